"""Synthetic residents for the demo, the tests and load: never a real person.

Names are random combinations of common Thai given names and surnames; citizen ids are
random digits with a valid checksum, starting with 0 (Thai nationals hold categories 1-8);
histories are random. No generated record describes a real person.

A resident also carries what a Thai ID card holds (date of birth, sex, address, issue and
expiry dates); :func:`write_card_file` writes it as a virtual card's file, with a generated
JPEG photo (a silhouette and the initials, never a face). The card fields come from a second
random stream seeded by the citizen id, so adding them left the first stream - and every
resident the seed already produced - unchanged.

``python -m devtools.synthetic cards --count 3 --out DIR`` writes card files.
"""

from __future__ import annotations

import hashlib
import io
import random
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import date
from decimal import Decimal
from pathlib import Path

import click
from PIL import Image, ImageDraw, ImageFont

from contract.identifiers import citizen_id_check_digit
from hardware.card.virtual.cardfile import CardFile

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
BANGKOK = "กรุงเทพมหานคร"
#: (subdistrict, district, province): real places, so addresses look right; no one's house.
LOCALITIES = [
    ("บางพูด", "ปากเกร็ด", "นนทบุรี"),
    ("บางกระสอ", "เมืองนนทบุรี", "นนทบุรี"),
    ("คลองหนึ่ง", "คลองหลวง", "ปทุมธานี"),
    ("บางปลา", "บางพลี", "สมุทรปราการ"),
    ("ช้างเผือก", "เมืองเชียงใหม่", "เชียงใหม่"),
    ("ในเมือง", "เมืองขอนแก่น", "ขอนแก่น"),
    ("ลาดยาว", "จตุจักร", BANGKOK),
    ("ห้วยขวาง", "ห้วยขวาง", BANGKOK),
    ("ทุ่งครุ", "ทุ่งครุ", BANGKOK),
]
SOIS = ["", "", "สุขใจ", "ร่วมมิตร", "5", "12"]
ROADS = ["", "พหลโยธิน", "แจ้งวัฒนะ", "ติวานนท์", "สุขุมวิท"]
TROKS = ["", "", "", "", "วัดโพธิ์"]
#: Card field sizes in bytes of TIS-620 (one byte a character), as ``hardware.card.apdu``.
ADDRESS_BYTES = 100
#: The photo area on the card: 20 chunks of 255 bytes.
PHOTO_CHUNK = 255
PHOTO_AREA = 20 * PHOTO_CHUNK


def synthetic_citizen_id(rng: random.Random) -> str:
    """A checksum-valid id starting with 0, outside the Thai-national categories 1-8."""
    first12 = "0" + "".join(str(rng.randrange(10)) for _ in range(11))
    return first12 + citizen_id_check_digit(first12)


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
    # What the ID card holds besides the names (see the module docstring).
    birth_year: int
    date_of_birth: date | None  # None: the card knows only the year (00 month and day)
    sex: str  # "male" or "female"
    issue_date: date
    expiry_date: date | None  # None: a lifelong card (70 or older when issued)
    house_no: str
    moo: str
    trok: str
    soi: str
    road: str
    subdistrict: str
    district: str
    province: str

    @property
    def full_name_th(self) -> str:
        return f"{self.prefix_th}{self.first_th} {self.last_th}"

    @property
    def full_name_en(self) -> str:
        return f"{self.prefix_en} {self.first_en} {self.last_en}"

    @property
    def issuer(self) -> str:
        """The office that issued the card (the registration office of the district)."""
        if self.province == BANGKOK:
            return f"สำนักงานเขต{self.district}"
        return f"ที่ว่าการอำเภอ{self.district}"

    def card_address(self) -> str:
        """The address as the card stores it: ``house#moo#trok#soi#road#sub#district#province``
        with each part's Thai prefix (Bangkok: แขวง/เขต and no จังหวัด)."""
        bangkok = self.province == BANGKOK
        return "#".join(
            [
                self.house_no,
                f"หมู่ที่ {self.moo}" if self.moo else "",
                f"ตรอก{self.trok}" if self.trok else "",
                f"ซอย{self.soi}" if self.soi else "",
                f"ถนน{self.road}" if self.road else "",
                ("แขวง" if bangkok else "ตำบล") + self.subdistrict,
                ("เขต" if bangkok else "อำเภอ") + self.district,
                self.province if bangkok else "จังหวัด" + self.province,
            ]
        )

    def card_fields(self) -> dict[str, str]:
        """Every text field as the card stores it (names ``#``-separated, Buddhist-era dates)."""
        if self.date_of_birth is None:
            dob = f"{self.birth_year + 543:04d}0000"
        else:
            dob = _be(self.date_of_birth)
        return {
            "citizen_id": self.citizen_id,
            "name_th": f"{self.prefix_th}#{self.first_th}##{self.last_th}",
            "name_en": f"{self.prefix_en}#{self.first_en}##{self.last_en}",
            "date_of_birth": dob,
            "sex": "1" if self.sex == "male" else "2",
            "issuer": self.issuer,
            "issue_date": _be(self.issue_date),
            "expiry_date": "99999999" if self.expiry_date is None else _be(self.expiry_date),
            "address": self.card_address(),
        }

    def card_values(self) -> dict:
        """The same person as plain values (ISO dates, parts without prefixes), shaped like
        ``hardware.card.ThaiIdCard``, for tests to compare a read against."""

        def iso(value: date | None) -> str | None:
            return value.isoformat() if value else None

        return {
            "citizen_id": self.citizen_id,
            "name_th": {
                "prefix": self.prefix_th,
                "first": self.first_th,
                "middle": "",
                "last": self.last_th,
            },
            "name_en": {
                "prefix": self.prefix_en,
                "first": self.first_en,
                "middle": "",
                "last": self.last_en,
            },
            "date_of_birth": iso(self.date_of_birth),
            "birth_year": self.birth_year,
            "sex": self.sex,
            "issuer": self.issuer,
            "issue_date": iso(self.issue_date),
            "expiry_date": iso(self.expiry_date),
            "address": {
                "house_no": self.house_no,
                "moo": self.moo,
                "trok": self.trok,
                "soi": self.soi,
                "road": self.road,
                "other": "",
                "subdistrict": self.subdistrict,
                "district": self.district,
                "province": self.province,
            },
        }


def _be(value: date) -> str:
    """A date as the card's Buddhist-era ``YYYYMMDD``."""
    return f"{value.year + 543:04d}{value.month:02d}{value.day:02d}"


def _anniversary(day: date, year: int) -> date:
    """``day`` in ``year`` (29 February becomes the 28th)."""
    try:
        return day.replace(year=year)
    except ValueError:
        return day.replace(year=year, day=28)


def _card_details(citizen_id: str, male: bool, today: date) -> dict:
    """The ID-card fields of one resident, from a random stream seeded by the citizen id."""
    seed = int.from_bytes(hashlib.sha256(citizen_id.encode()).digest()[:8], "big")
    rng = random.Random(seed)
    birth = date.fromordinal(
        rng.randrange(date(1945, 1, 1).toordinal(), date(2005, 12, 31).toordinal())
    )
    partial = birth.year < 1955 and rng.random() < 0.3
    issue = date.fromordinal(rng.randrange((today.toordinal() - 7 * 365), today.toordinal()))
    lifelong = issue.year - birth.year >= 70
    expiry = None if lifelong else _anniversary(issue if partial else birth, issue.year + 8)
    subdistrict, district, province = rng.choice(LOCALITIES)
    details = {
        "birth_year": birth.year,
        "date_of_birth": None if partial else birth,
        "sex": "male" if male else "female",
        "issue_date": issue,
        "expiry_date": expiry,
        "house_no": f"{rng.randrange(1, 400)}"
        + (f"/{rng.randrange(1, 90)}" if rng.random() < 0.5 else ""),
        "moo": "" if province == BANGKOK else str(rng.randrange(1, 15)),
        "trok": rng.choice(TROKS),
        "soi": rng.choice(SOIS),
        "road": rng.choice(ROADS),
        "subdistrict": subdistrict,
        "district": district,
        "province": province,
    }
    return details


def residents(
    count: int, seed: int = 2026, buildings: int = 4, today: date | None = None
) -> Iterator[SyntheticResident]:
    """``count`` reproducible residents spread over ``buildings`` buildings.

    ``today`` anchors the card issue dates (default: a fixed day, so a seed always gives
    the same cards).
    """
    today = today or date(2026, 1, 1)
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
        resident = SyntheticResident(
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
            **_card_details(citizen_id, prefix_en == "Mr.", today),
        )
        for part in ("trok", "road", "soi"):  # the card holds 100 bytes of address
            if len(resident.card_address().encode("tis-620")) <= ADDRESS_BYTES:
                break
            resident = replace(resident, **{part: ""})
        yield resident
        produced += 1


# --- the card file -------------------------------------------------------------------------


def _photo_rng(citizen_id: str) -> random.Random:
    return random.Random(hashlib.sha256(f"photo:{citizen_id}".encode()).digest())


def _draw_photo(resident: SyntheticResident, size: tuple[int, int]) -> Image.Image:
    """A passport-style picture with no one in it: a backdrop, a grey silhouette, initials."""
    rng = _photo_rng(resident.citizen_id)
    width, height = size
    image = Image.new("RGB", size)
    draw = ImageDraw.Draw(image)
    top = (rng.randrange(150, 210), rng.randrange(170, 220), rng.randrange(200, 250))
    for y in range(height):  # a vertical gradient, as studio backdrops have
        shade = tuple(int(c * (1 - 0.35 * y / height)) for c in top)
        draw.line([(0, y), (width, y)], fill=shade)
    tone = rng.randrange(70, 120)
    body = (tone, tone, tone + 10)
    cx = width // 2
    draw.ellipse([cx - width * 0.42, height * 0.66, cx + width * 0.42, height * 1.25], fill=body)
    draw.rectangle([cx - width * 0.1, height * 0.5, cx + width * 0.1, height * 0.72], fill=body)
    draw.ellipse([cx - width * 0.2, height * 0.18, cx + width * 0.2, height * 0.6], fill=body)
    font = ImageFont.load_default(size=max(12, height // 7))
    initials = resident.first_en[:1] + resident.last_en[:1]
    draw.text((cx, height * 0.39), initials, fill=(235, 235, 235), font=font, anchor="mm")
    draw.text((4, height - 14), "SYNTHETIC", fill=(255, 255, 255), font=ImageFont.load_default(10))
    return image


def _space_at_chunk_edge(jpeg: bytes) -> bool:
    """True if a 255-byte chunk of the photo ends or starts with 0x20 (inside the JPEG)."""
    return any(
        jpeg[edge] == 0x20
        for i in range(1, 20)
        for edge in (i * PHOTO_CHUNK - 1, i * PHOTO_CHUNK)
        if edge < len(jpeg)
    )


def synthetic_photo(resident: SyntheticResident, limit: int = PHOTO_AREA) -> bytes:
    """The resident's card photo: a JPEG of at most ``limit`` bytes (about 5 KB).

    The best quality that fits is chosen; then a JPEG comment is sized so that some 255-byte
    chunk read from the card ends or starts with a 0x20 byte, so a reader that strips spaces
    from the chunks it reads gets a different photo and the tests see it.
    """
    image = _draw_photo(resident, (144, 176))
    best = b""
    for quality in range(95, 10, -5):
        buffer = io.BytesIO()
        image.save(buffer, "JPEG", quality=quality, optimize=True)
        best = buffer.getvalue()
        if len(best) <= limit - 300:
            break
    note = b"synthetic photo, not a real person "
    for pad in range(0, 256):
        comment = (note + b"." * pad)[: len(note) + pad]
        segment = b"\xff\xfe" + (len(comment) + 2).to_bytes(2, "big") + comment
        jpeg = best[:2] + segment + best[2:]
        if _space_at_chunk_edge(jpeg) and len(jpeg) <= limit:
            return jpeg
    raise ValueError("no comment size puts a space at a chunk edge")  # pragma: no cover


def write_card_file(resident: SyntheticResident, path: str | Path) -> Path:
    """Write ``resident`` as a virtual Thai ID card's file (``hardware.card.virtual``)."""
    return CardFile(
        fields=resident.card_fields(),
        photo=synthetic_photo(resident),
        resident=resident.card_values(),
    ).write(path)


def write_card_files(count: int, out: str | Path, seed: int = 2026) -> list[Path]:
    """``count`` card files ``card-01.json``... in ``out`` (created if need be)."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    width = max(2, len(str(count)))
    return [
        write_card_file(resident, out / f"card-{n:0{width}d}.json")
        for n, resident in enumerate(residents(count, seed), start=1)
    ]


@click.group()
def cli() -> None:
    """Synthetic residents (never real people)."""


@cli.command()
@click.option("--count", default=3, show_default=True, type=click.IntRange(1, 10_000))
@click.option("--out", required=True, type=click.Path(file_okay=False, path_type=Path))
@click.option("--seed", default=2026, show_default=True, type=int)
def cards(count: int, out: Path, seed: int) -> None:
    """Write COUNT virtual Thai ID card files into OUT."""
    for path in write_card_files(count, out, seed):
        click.echo(path)


if __name__ == "__main__":
    cli()
