"""Two synthetic people seed 001 names besides the ordinary resident: never real people.

- A **foreigner** living in the first resident's building: a Vietnamese national who holds a
  Thai ID card for non-nationals (the same chip, a 13-digit id outside the Thai-national
  categories), with a passport number and nationality in the population register. Seed 001
  registers a foreigner with passport number and nationality; the card holds neither, so the
  kiosk asks for them and the server matches them.
- A **ward**: an adult without legal capacity, under the guardianship of a resident who has
  an e-ID account of their own (the register's ``guardian`` link). Seed 001 registers them
  through the guardian's account, whatever their age.

Both go through the product's residents import, as :mod:`devtools.seed` does; the foreigner
also gets a virtual card file. ``seed_eid_people`` is idempotent (the import adds, never
updates).
"""

from __future__ import annotations

import random
from dataclasses import dataclass, replace
from datetime import date
from pathlib import Path

import msgspec

from devtools.residents import resident_line, synthetic_residents
from devtools.synthetic import SyntheticResident, residents, synthetic_citizen_id, write_card_file
from devtools.synthetic_history import history
from sync_server.records import residents_file as f
from sync_server.records.residents_import import import_residents

#: A random stream of its own, so the ordinary residents are unchanged.
SEED = 14_001
FOREIGN_NATIONALITY = "VN"
FOREIGN_PASSPORT = "C7040512"


@dataclass(frozen=True)
class EidPeople:
    """Who :func:`seed_eid_people` added: the foreigner (with their card file) and the ward
    with their guardian's citizen id."""

    foreigner: SyntheticResident
    foreigner_card: Path | None
    ward: SyntheticResident
    guardian_citizen_id: str


def _new_id(rng: random.Random, taken: set[str]) -> str:
    while (citizen_id := synthetic_citizen_id(rng)) in taken:
        pass
    taken.add(citizen_id)
    return citizen_id


def guardian_index(count: int, seed: int = 2026) -> int:
    """The first synthetic resident with an e-ID account of their own (the ward's guardian)."""
    for index, resident in enumerate(synthetic_residents(count, seed)):
        if resident.identity is not None:
            return index
    raise ValueError("no synthetic resident has an e-ID account")  # pragma: no cover


def people(count: int, seed: int = 2026) -> tuple[SyntheticResident, SyntheticResident, int]:
    """The foreigner, the ward and the index of the ward's guardian among ``count`` residents."""
    rng = random.Random(SEED)
    ordinary = list(residents(count, seed))
    taken = {r.citizen_id for r in ordinary}
    base = ordinary[0]
    foreigner = replace(
        base,
        citizen_id=_new_id(rng, taken),
        prefix_th="นาย",
        first_th="อาน",
        last_th="เหงียน",
        prefix_en="Mr.",
        first_en="An",
        last_en="Nguyen",
        sex="male",
        birth_year=1991,
        date_of_birth=date(1991, 4, 12),
        status="section33",
    )
    index = guardian_index(count, seed)
    guardian = ordinary[index]
    ward = replace(
        guardian,
        citizen_id=_new_id(rng, taken),
        prefix_th="นาย",
        first_th="วิชัย",
        prefix_en="Mr.",
        first_en="Wichai",
        sex="male",
        birth_year=1988,
        date_of_birth=date(1988, 9, 3),
        status="resigned",
        hospital=None,
    )
    return foreigner, ward, index


def _line(person: SyntheticResident, as_of: date, **population: object) -> f.Resident:
    line = resident_line(person, history(person, as_of), as_of, [])
    return msgspec.structs.replace(
        line,
        population=msgspec.structs.replace(line.population, **population),
        identity=None,
        insurance_account=None,
    )


def eid_lines(
    count: int, seed: int = 2026, as_of: date | None = None
) -> tuple[list[f.Resident], SyntheticResident, SyntheticResident, str]:
    """The residents-file lines that add the foreigner and the ward (and the guardian's link,
    on a line of its own for a resident already imported); with the two people and the
    guardian's citizen id."""
    as_of = as_of or date.today()
    foreigner, ward, index = people(count, seed)
    guardian_line = list(synthetic_residents(count, seed, as_of=as_of))[index]
    lines = [
        _line(
            foreigner,
            as_of,
            nationality=FOREIGN_NATIONALITY,
            passport_number=FOREIGN_PASSPORT,
        ),
        _line(ward, as_of, legal_capacity=False),
        # The guardian is in the register already: the import keeps them as they are and
        # writes the new link (a court-appointed guardian).
        msgspec.structs.replace(
            guardian_line,
            guardian_of=[f.GuardianLink(citizen_id=ward.citizen_id, relation="guardian")],
            children=[],
        ),
    ]
    return lines, foreigner, ward, guardian_line.citizen_id


def export_eid_people(path: Path, count: int, seed: int = 2026, as_of: date | None = None) -> Path:
    """Write :func:`eid_lines` as a residents file, for ``dcs-server records import`` after
    the ordinary residents (the demo)."""
    lines, *_ = eid_lines(count, seed, as_of)
    path.write_bytes(b"".join(f.encode_line(line) for line in lines))
    return path


def seed_eid_people(
    count: int,
    seed: int = 2026,
    as_of: date | None = None,
    card_dir: Path | None = None,
) -> EidPeople:
    """Import the foreigner and the ward (linked to their guardian, one of the first
    ``count`` residents seeded with ``seed``); write the foreigner's card into ``card_dir``."""
    lines, foreigner, ward, guardian = eid_lines(count, seed, as_of)
    import_residents([f.encode_line(line) for line in lines])
    card = None
    if card_dir is not None:
        card_dir.mkdir(parents=True, exist_ok=True)
        card = write_card_file(foreigner, card_dir / "card-foreigner.json")
    return EidPeople(foreigner, card, ward, guardian)
