"""Synthetic residents for the demo, the tests and load: never a real person.

Names are random combinations of common Thai given names and surnames; citizen ids are
random digits with a valid checksum, starting with 0 (Thai nationals hold categories 1-8);
histories are random. No generated record describes a real person.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal

GIVEN_NAMES = [
    ("สมชาย", "Somchai", "นาย", "Mr."),
    ("ประเสริฐ", "Prasert", "นาย", "Mr."),
    ("วิชัย", "Wichai", "นาย", "Mr."),
    ("สุรชัย", "Surachai", "นาย", "Mr."),
    ("อนุชา", "Anucha", "นาย", "Mr."),
    ("ธนากร", "Thanakorn", "นาย", "Mr."),
    ("สมหญิง", "Somying", "นางสาว", "Miss"),
    ("มาลี", "Malee", "นางสาว", "Miss"),
    ("กัญญา", "Kanya", "นาง", "Mrs."),
    ("วันเพ็ญ", "Wanphen", "นาง", "Mrs."),
    ("พิมพ์ชนก", "Phimchanok", "นางสาว", "Miss"),
    ("ศิริพร", "Siriporn", "นาง", "Mrs."),
]
SURNAMES = [
    ("ใจดี", "Jaidee"),
    ("สุขสวัสดิ์", "Suksawat"),
    ("ทองคำ", "Thongkham"),
    ("ศรีสุข", "Srisuk"),
    ("แก้วมณี", "Kaewmanee"),
    ("บุญมา", "Boonma"),
    ("รุ่งเรือง", "Rungruang"),
    ("พงษ์ไพบูลย์", "Phongphaibun"),
]
HOSPITALS = [
    "โรงพยาบาลราชวิถี",
    "โรงพยาบาลเลิดสิน",
    "โรงพยาบาลนพรัตนราชธานี",
    "โรงพยาบาลกลาง",
    "โรงพยาบาลตากสิน",
]


def citizen_id_check_digit(first12: str) -> int:
    """The 13th digit of a Thai citizen id."""
    total = sum((13 - i) * int(d) for i, d in enumerate(first12))
    return (11 - total % 11) % 10


def synthetic_citizen_id(rng: random.Random) -> str:
    """A checksum-valid id starting with 0, outside the Thai-national categories 1-8."""
    first12 = "0" + "".join(str(rng.randrange(10)) for _ in range(11))
    return first12 + str(citizen_id_check_digit(first12))


@dataclass(frozen=True)
class SyntheticResident:
    """A generated person with an insured-person summary."""

    citizen_id: str
    prefix_th: str
    first_th: str
    last_th: str
    prefix_en: str
    first_en: str
    last_en: str
    status: str
    hospital: str | None
    contributions_baht: Decimal
    contributions_count: int
    benefits_baht: Decimal
    benefits_count: int
    old_age_savings_baht: Decimal
    building: str

    @property
    def full_name_th(self) -> str:
        return f"{self.prefix_th}{self.first_th} {self.last_th}"

    @property
    def full_name_en(self) -> str:
        return f"{self.prefix_en} {self.first_en} {self.last_en}"


def residents(count: int, seed: int = 2026, buildings: int = 4) -> Iterator[SyntheticResident]:
    """``count`` reproducible residents spread over ``buildings`` buildings."""
    rng = random.Random(seed)
    seen: set[str] = set()
    produced = 0
    while produced < count:
        citizen_id = synthetic_citizen_id(rng)
        if citizen_id in seen:
            continue
        seen.add(citizen_id)
        first_th, first_en, prefix_th, prefix_en = rng.choice(GIVEN_NAMES)
        last_th, last_en = rng.choice(SURNAMES)
        status = rng.choices(["section33", "section39", "resigned"], weights=[6, 3, 1])[0]
        payments = rng.randrange(12, 240)
        monthly = Decimal(rng.choice([432, 750, 600, 450]))
        claims = rng.randrange(0, 12)
        yield SyntheticResident(
            citizen_id=citizen_id,
            prefix_th=prefix_th,
            first_th=first_th,
            last_th=last_th,
            prefix_en=prefix_en,
            first_en=first_en,
            last_en=last_en,
            status=status,
            hospital=None if status == "resigned" else rng.choice(HOSPITALS),
            contributions_baht=monthly * payments,
            contributions_count=payments,
            benefits_baht=Decimal(rng.randrange(0, 40_000)) if claims else Decimal(0),
            benefits_count=claims,
            old_age_savings_baht=(monthly * payments * Decimal("0.6")).quantize(Decimal("0.01")),
            building=f"building-{rng.randrange(buildings) + 1}",
        )
        produced += 1
