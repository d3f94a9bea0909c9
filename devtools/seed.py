"""Seeding the master records with synthetic residents (demo, tests, load): never real people.

Each resident of :func:`devtools.synthetic.residents` gets the summary row, the
details of :mod:`devtools.synthetic_history`, a population record, accounts, children,
and one change-log entry (so stations that already hold a replica receive newcomers).
Rows go in with one prepared statement per table and chunk (``bulk_insert``). Residents
already present are skipped, so seeding twice with the same seed changes nothing.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date
from functools import cache
from itertools import islice

import peewee

from devtools.synthetic import SyntheticResident, residents
from devtools.synthetic_history import InsuredHistory, SyntheticChild, history
from sync_server.records.bulk import bulk_insert
from sync_server.records.changes import log_changes
from sync_server.records.passwords import hash_password

#: Synthetic e-accounts share a few argon2id hashes of random passwords nobody knows: argon2id
#: costs about 0.1 s a hash by design, too slow for 100,000 accounts.
PASSWORD_HASH_POOL = 8
CHUNK = 2000

_PERSON = (
    "citizen_id",
    "full_name_th",
    "full_name_en",
    "status",
    "hospital",
    "contributions_baht",
    "contributions_count",
    "benefits_baht",
    "benefits_count",
    "old_age_savings_baht",
    "building",
    "as_of",
)
_ENTITLEMENT = ("citizen", "entitled", "hospital", "card_issued_on", "card_expires_on")
_CONTRIBUTION = ("citizen", "year", "payments", "amount")
_BENEFIT = ("citizen", "paid_on", "benefit_type", "method", "amount")
_SAVINGS = ("citizen", "year", "employee", "employer", "government")
_ACCOUNT = (
    "insurance_number",
    "citizen",
    "phone",
    "email",
    "password_hash",
    "must_change_password",
    "password_changed_at",
    "created_at",
)
_POPULATION = (
    "citizen_id",
    "prefix_th",
    "first_th",
    "last_th",
    "prefix_en",
    "first_en",
    "last_en",
    "sex",
    "date_of_birth",
    "birth_year",
    "address",
    "building",
)
_IDENTITY = ("citizen", "level", "phone", "email", "guardian", "created_on")


@cache
def _password_hashes() -> tuple[str, ...]:
    return tuple(hash_password(secrets.token_urlsafe(16)) for _ in range(PASSWORD_HASH_POOL))


@dataclass
class SeedRows:
    """The rows of one chunk of residents, per table, in insert order."""

    persons: list[tuple] = field(default_factory=list)
    entitlements: list[tuple] = field(default_factory=list)
    contributions: list[tuple] = field(default_factory=list)
    benefits: list[tuple] = field(default_factory=list)
    savings: list[tuple] = field(default_factory=list)
    accounts: list[tuple] = field(default_factory=list)
    population: list[tuple] = field(default_factory=list)
    identities: list[tuple] = field(default_factory=list)
    child_identities: list[tuple] = field(default_factory=list)
    changes: list[tuple[str, str]] = field(default_factory=list)


def _child_population(child: SyntheticChild, parent: SyntheticResident) -> tuple:
    return (
        child.citizen_id,
        child.prefix_th,
        child.first_th,
        child.last_th,
        child.prefix_en,
        child.first_en,
        child.last_en,
        child.sex,
        child.date_of_birth,
        child.date_of_birth.year,
        parent.card_address(),
        parent.building,
    )


def add_resident(
    rows: SeedRows,
    r: SyntheticResident,
    h: InsuredHistory,
    as_of: date,
    taken: set[str],
) -> None:
    """Append one resident's rows; children whose id is in ``taken`` are left out."""
    cid = r.citizen_id
    rows.persons.append(
        (
            cid,
            r.full_name_th,
            r.full_name_en,
            r.status,
            r.hospital,
            r.contributions_baht,
            r.contributions_count,
            r.benefits_baht,
            r.benefits_count,
            r.old_age_savings_baht,
            r.building,
            as_of,
        )
    )
    rows.entitlements.append((cid, *h.entitlement))
    rows.contributions += [(cid, *row) for row in h.contributions]
    rows.benefits += [(cid, *row) for row in h.benefits]
    rows.savings += [(cid, *row) for row in h.old_age_savings]
    if h.account is not None:
        hashes = _password_hashes()
        a = h.account
        rows.accounts.append(
            (
                a.insurance_number,
                cid,
                a.phone,
                a.email,
                hashes[int(cid) % len(hashes)],
                a.must_change_password,
                None,
                None,
            )
        )
    rows.population.append(
        (
            cid,
            r.prefix_th,
            r.first_th,
            r.last_th,
            r.prefix_en,
            r.first_en,
            r.last_en,
            r.sex,
            r.date_of_birth,
            r.birth_year,
            r.card_address(),
            r.building,
        )
    )
    if h.identity is not None:
        i = h.identity
        rows.identities.append((cid, i.level, i.phone, i.email, None, i.created_on))
    children = {c.citizen_id: c for c in h.children if c.citizen_id not in taken}
    taken.update(children)
    rows.population += [_child_population(c, r) for c in children.values()]
    rows.child_identities += [
        (i.citizen_id, i.level, i.phone, i.email, i.guardian, i.created_on)
        for i in h.child_identities
        if i.citizen_id in children
    ]
    rows.changes.append((cid, r.building))


def insert_rows(db: peewee.Database, rows: SeedRows, now: object) -> None:
    """Write one chunk (inside the caller's transaction)."""
    from sync_server.models import InsuredPerson
    from sync_server.records import models as m

    bulk_insert(db, InsuredPerson, _PERSON, rows.persons)
    bulk_insert(db, m.Entitlement, _ENTITLEMENT, rows.entitlements)
    bulk_insert(db, m.Contribution, _CONTRIBUTION, rows.contributions)
    bulk_insert(db, m.BenefitPayment, _BENEFIT, rows.benefits)
    bulk_insert(db, m.OldAgeSavings, _SAVINGS, rows.savings)
    bulk_insert(db, m.InsuranceAccount, _ACCOUNT, [(*a[:-1], now) for a in rows.accounts])
    bulk_insert(db, m.PopulationRecord, _POPULATION, rows.population)
    # Guardians before their wards: the foreign key is checked row by row.
    bulk_insert(db, m.IdentityAccount, _IDENTITY, rows.identities)
    bulk_insert(db, m.IdentityAccount, _IDENTITY, rows.child_identities)
    log_changes(db, rows.changes)


def _existing(db: peewee.Database, ids: list[str]) -> set[str]:
    from sync_server.records.models import PopulationRecord

    found: set[str] = set()
    for start in range(0, len(ids), 500):
        chunk = ids[start : start + 500]
        query = PopulationRecord.select(PopulationRecord.citizen_id).where(
            PopulationRecord.citizen_id.in_(chunk)
        )
        found.update(cid for (cid,) in query.tuples())
    return found


def _chunks(items: Iterator[SyntheticResident], size: int) -> Iterator[list[SyntheticResident]]:
    while chunk := list(islice(items, size)):
        yield chunk


def seed_records(
    count: int,
    seed: int = 2026,
    as_of: date | None = None,
    buildings: int = 4,
    chunk: int = CHUNK,
) -> int:
    """Insert ``count`` synthetic residents with full histories; returns how many were new."""
    from sync_server.db import database, write_transaction
    from sync_server.models import utc_now

    db = database.obj
    as_of = as_of or date.today()
    now = utc_now()
    if isinstance(db, peewee.SqliteDatabase):
        now = now.isoformat(" ")
    created = 0
    for group in _chunks(residents(count, seed, buildings=buildings), chunk):
        histories = [history(r, as_of) for r in group]
        wanted = [r.citizen_id for r in group] + [
            c.citizen_id for h in histories for c in h.children
        ]
        with write_transaction(db):
            existing = _existing(db, wanted)
            # A child's random id may equal a resident's: the resident keeps it.
            taken = existing | {r.citizen_id for r in group}
            rows = SeedRows()
            for r, h in zip(group, histories, strict=True):
                if r.citizen_id not in existing:
                    add_resident(rows, r, h, as_of, taken)
            insert_rows(db, rows, now)
        created += len(rows.persons)
    return created


def seed_insured(count: int, seed: int = 2026, as_of: date | None = None) -> int:
    """Insert ``count`` synthetic insured persons with full records (see :func:`seed_records`)."""
    return seed_records(count, seed, as_of)
