"""The rows a residents file's lines become, per table, for one bulk insert per table.

Each new resident gets the summary row (totals computed from the details), the details, a
population record, the accounts, the children's population records and e-ID accounts, and
one change-log entry, so stations that already hold a replica receive newcomers.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from decimal import Decimal
from functools import cache

import peewee

from sync_server.records import models as m
from sync_server.records.bulk import bulk_insert
from sync_server.records.changes import log_changes
from sync_server.records.models import InsuredPerson
from sync_server.records.passwords import hash_password
from sync_server.records.residents_file import Child, Population, Resident

#: The file holds no passwords: each e-account gets one of a few argon2id hashes of random
#: passwords nobody knows, and its holder sets one through the kiosk's reset (registered
#: phone). A few, because argon2id costs about 0.1 s a hash by design.
PASSWORD_HASH_POOL = 8

PERSON_COLUMNS = (
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
ENTITLEMENT_COLUMNS = ("citizen", "entitled", "hospital", "card_issued_on", "card_expires_on")
CONTRIBUTION_COLUMNS = ("citizen", "year", "payments", "amount")
BENEFIT_COLUMNS = ("citizen", "paid_on", "benefit_type", "method", "amount")
SAVINGS_COLUMNS = ("citizen", "year", "employee", "employer", "government")
ACCOUNT_COLUMNS = (
    "insurance_number",
    "citizen",
    "phone",
    "email",
    "password_hash",
    "must_change_password",
    "password_changed_at",
    "created_at",
)
POPULATION_COLUMNS = (
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
    "nationality",
    "passport_number",
    "legal_capacity",
)
IDENTITY_COLUMNS = ("citizen", "level", "phone", "email", "guardian", "created_on")


@cache
def _password_hashes() -> tuple[str, ...]:
    return tuple(hash_password(secrets.token_urlsafe(16)) for _ in range(PASSWORD_HASH_POOL))


def _population(citizen_id: str, p: Population, building: str | None) -> tuple:
    return (
        citizen_id,
        p.prefix_th,
        p.first_th,
        p.last_th,
        p.prefix_en,
        p.first_en,
        p.last_en,
        p.sex,
        p.date_of_birth,
        p.birth_year,
        p.address,
        building,
        p.nationality,
        p.passport_number,
        p.legal_capacity,
    )


def _summary(
    r: Resident, contributions: list[tuple], benefits: list[tuple], savings: list[tuple]
) -> tuple:
    """The summary row; its totals add up the detail rows, as ``updates.refresh_summary``
    does."""
    return (
        r.citizen_id,
        r.insured.full_name_th,
        r.insured.full_name_en,
        r.insured.status,
        r.hospital.name if r.hospital.entitled else None,
        sum((row[3] for row in contributions), Decimal(0)),
        sum(row[2] for row in contributions),
        sum((row[4] for row in benefits), Decimal(0)),
        len(benefits),
        sum((row[2] + row[3] + row[4] for row in savings), Decimal(0)),
        r.building,
        r.as_of,
    )


@dataclass
class ResidentRows:
    """The rows of a chunk of residents, per table, in insert order."""

    persons: list[tuple] = field(default_factory=list)
    entitlements: list[tuple] = field(default_factory=list)
    contributions: list[tuple] = field(default_factory=list)
    benefits: list[tuple] = field(default_factory=list)
    savings: list[tuple] = field(default_factory=list)
    accounts: list[tuple] = field(default_factory=list)
    population: list[tuple] = field(default_factory=list)
    identities: list[tuple] = field(default_factory=list)
    child_identities: list[tuple] = field(default_factory=list)
    changes: list[tuple[str, str | None]] = field(default_factory=list)

    def add(self, r: Resident, present: set[str]) -> list[Child]:
        """Add a new resident's rows; children whose id is in ``present`` are left out.
        Returns the children added."""
        cid = r.citizen_id
        contributions = [(cid, c.year, c.payments, Decimal(c.amount)) for c in r.contributions]
        benefits = [
            (cid, b.paid_on, b.benefit_type, b.method, Decimal(b.amount)) for b in r.benefits
        ]
        savings = [
            (cid, s.year, Decimal(s.employee), Decimal(s.employer), Decimal(s.government))
            for s in r.old_age_savings
        ]
        self.persons.append(_summary(r, contributions, benefits, savings))
        h = r.hospital
        self.entitlements.append((cid, h.entitled, h.name, h.card_issued_on, h.card_expires_on))
        self.contributions += contributions
        self.benefits += benefits
        self.savings += savings
        if (a := r.insurance_account) is not None:
            hashes = _password_hashes()
            password_hash = hashes[int(cid) % len(hashes)]
            # created_at is the import's time, filled in by insert_rows.
            self.accounts.append(
                (cid, cid, a.phone, a.email, password_hash, a.must_change_password, None)
            )
        self.population.append(_population(cid, r.population, r.building))
        if (i := r.identity) is not None:
            self.identities.append((cid, i.level, i.phone, i.email, None, i.created_on))
        children = [child for child in r.children if child.citizen_id not in present]
        for child in children:
            self.population.append(_population(child.citizen_id, child.population, r.building))
            if (i := child.identity) is not None:
                self.child_identities.append(
                    (child.citizen_id, i.level, i.phone, i.email, cid, i.created_on)
                )
        self.changes.append((cid, r.building))
        return children

    def count(self) -> int:
        """How many rows, the change log included."""
        return sum(len(rows) for rows in vars(self).values())


def insert_rows(db: peewee.Database, rows: ResidentRows, now: object) -> None:
    """Write one chunk inside the caller's transaction; ``now`` (in the driver's form) dates
    the e-accounts."""
    bulk_insert(db, InsuredPerson, PERSON_COLUMNS, rows.persons)
    bulk_insert(db, m.Entitlement, ENTITLEMENT_COLUMNS, rows.entitlements)
    bulk_insert(db, m.Contribution, CONTRIBUTION_COLUMNS, rows.contributions)
    bulk_insert(db, m.BenefitPayment, BENEFIT_COLUMNS, rows.benefits)
    bulk_insert(db, m.OldAgeSavings, SAVINGS_COLUMNS, rows.savings)
    bulk_insert(db, m.InsuranceAccount, ACCOUNT_COLUMNS, [(*a, now) for a in rows.accounts])
    bulk_insert(db, m.PopulationRecord, POPULATION_COLUMNS, rows.population)
    # Guardians before their wards: the foreign key is checked row by row.
    bulk_insert(db, m.IdentityAccount, IDENTITY_COLUMNS, rows.identities)
    bulk_insert(db, m.IdentityAccount, IDENTITY_COLUMNS, rows.child_identities)
    log_changes(db, rows.changes)
