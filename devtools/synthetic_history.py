"""Full synthetic histories for the residents of :mod:`devtools.synthetic`: never real.

For each resident: the hospital entitlement and its card dates, contributions by year, paid
benefit claims, old-age savings by year (employee, employer, government), an insurance
e-account, an electronic identity account, and some children under 14 registered under
their parent's account (seed 001's guardian link).

Everything comes from a random stream seeded by the citizen id (like the card details), so
:func:`devtools.synthetic.residents` is unchanged and a resident always gets the same
history. The details add up exactly to the resident's summary: the payments and baht of
the contributions, the number and baht of the claims, the old-age savings.
"""

from __future__ import annotations

import hashlib
import random
from datetime import date, timedelta
from decimal import ROUND_DOWN, Decimal
from typing import NamedTuple

from devtools.synthetic import GIVEN_NAMES, SyntheticResident, synthetic_citizen_id

CENT = Decimal("0.01")

#: (code, weight) of paid benefits; maternity only for women (see :func:`_benefits`).
BENEFIT_WEIGHTS = (
    ("sickness", 60),
    ("child_allowance", 15),
    ("maternity", 8),
    ("unemployment", 10),
    ("invalidity", 3),
)
METHOD_WEIGHTS = (("bank_transfer", 6), ("promptpay", 3), ("cheque", 1))
#: Reserved for documentation (RFC 2606): no generated address reaches anyone.
EMAIL_DOMAINS = ("example.com", "example.org", "example.net")


class Entitlement(NamedTuple):
    entitled: bool
    hospital: str | None
    card_issued_on: date | None
    card_expires_on: date | None


class ContributionRow(NamedTuple):
    year: int
    payments: int
    amount: Decimal


class BenefitRow(NamedTuple):
    paid_on: date
    benefit_type: str
    method: str
    amount: Decimal


class SavingsRow(NamedTuple):
    year: int
    employee: Decimal
    employer: Decimal
    government: Decimal


class EAccount(NamedTuple):
    """An insurance e-account; the insurance number of a Thai national is the citizen id."""

    insurance_number: str
    phone: str
    email: str | None
    must_change_password: bool


class IdentityAccount(NamedTuple):
    """An electronic identity account (seed 001); children have ``guardian``."""

    citizen_id: str
    level: int
    phone: str | None
    email: str | None
    created_on: date
    guardian: str | None


class SyntheticChild(NamedTuple):
    """A child under 14 in a resident's household (population record only, not insured)."""

    citizen_id: str
    prefix_th: str
    first_th: str
    last_th: str
    prefix_en: str
    first_en: str
    last_en: str
    sex: str
    date_of_birth: date


class InsuredHistory(NamedTuple):
    """Everything the master records hold about one resident besides the summary."""

    citizen_id: str
    entitlement: Entitlement
    contributions: list[ContributionRow]
    benefits: list[BenefitRow]
    old_age_savings: list[SavingsRow]
    account: EAccount | None
    identity: IdentityAccount | None
    children: list[SyntheticChild]
    child_identities: list[IdentityAccount]


def _rng(citizen_id: str) -> random.Random:
    return random.Random(hashlib.sha256(f"history:{citizen_id}".encode()).digest())


def _month_index(day: date) -> int:
    return day.year * 12 + day.month - 1


def _first_of(index: int) -> date:
    return date(index // 12, index % 12 + 1, 1)


def _contributions(
    resident: SyntheticResident, last_month: int
) -> tuple[list[ContributionRow], int]:
    """Payments in consecutive months ending at ``last_month``; newest year first."""
    payments = resident.contributions_count
    monthly = resident.contributions_baht / payments
    first_month = last_month - payments + 1
    rows = []
    for year in range(last_month // 12, first_month // 12 - 1, -1):
        months = min(last_month, year * 12 + 11) - max(first_month, year * 12) + 1
        rows.append(ContributionRow(year, months, (monthly * months).quantize(CENT)))
    return rows, first_month


def _savings(resident: SyntheticResident, contributions: list[ContributionRow]) -> list[SavingsRow]:
    """The old-age savings spread over the years like the payments, split by who paid."""
    total = resident.old_age_savings_baht
    payments = resident.contributions_count
    shares = [(total * row.payments / payments).quantize(CENT, ROUND_DOWN) for row in contributions]
    shares[0] += total - sum(shares)  # the rounding left over goes to the newest year
    rows = []
    for row, share in zip(contributions, shares, strict=True):
        if resident.status == "section39":
            # Self-insured: no employer; the government tops up what the insured pays.
            employee = (share * 3 / 4).quantize(CENT, ROUND_DOWN)
            employer = Decimal("0.00")
        else:
            # Section 33: employee and employer pay the same, the government less.
            employee = (share * 3 / 7).quantize(CENT, ROUND_DOWN)
            employer = employee
        rows.append(SavingsRow(row.year, employee, employer, share - employee - employer))
    return rows


def _pick(rng: random.Random, weighted: tuple[tuple[str, int], ...]) -> str:
    return rng.choices([code for code, _ in weighted], weights=[w for _, w in weighted])[0]


def _benefits(
    resident: SyntheticResident, rng: random.Random, first_day: date, last_day: date
) -> list[BenefitRow]:
    """``benefits_count`` paid claims adding up to ``benefits_baht``; newest first."""
    count = resident.benefits_count
    if not count:
        return []
    kinds = tuple(
        (code, weight)
        for code, weight in BENEFIT_WEIGHTS
        if code != "maternity" or resident.sex == "female"
    )
    total = int(resident.benefits_baht)
    weights = [rng.randrange(1, 10) for _ in range(count)]
    amounts = [total * w // sum(weights) for w in weights]
    amounts[0] += total - sum(amounts)
    span = max(1, (last_day - first_day).days)
    days = sorted(first_day + timedelta(days=rng.randrange(span)) for _ in range(count))
    return [
        BenefitRow(
            day, _pick(rng, kinds), _pick(rng, METHOD_WEIGHTS), Decimal(amount).quantize(CENT)
        )
        for day, amount in zip(reversed(days), amounts, strict=True)
    ]


def _entitlement(resident: SyntheticResident, rng: random.Random, as_of: date) -> Entitlement:
    if resident.status == "resigned" or resident.hospital is None:
        return Entitlement(False, None, None, None)
    issued = as_of - timedelta(days=rng.randrange(1, 360))
    expires = date(issued.year + 1, issued.month, min(issued.day, 28)) - timedelta(days=1)
    return Entitlement(True, resident.hospital, issued, expires)


def _phone(rng: random.Random) -> str:
    return "0" + rng.choice("689") + f"{rng.randrange(10**8):08d}"


def _email(resident: SyntheticResident, rng: random.Random) -> str:
    name = f"{resident.first_en}.{resident.last_en}".lower()
    return f"{name}{rng.randrange(1, 1000)}@{rng.choice(EMAIL_DOMAINS)}"


def _children(resident: SyntheticResident, rng: random.Random, as_of: date) -> list[SyntheticChild]:
    if rng.random() >= 0.15 or resident.birth_year > as_of.year - 20:
        return []
    children = []
    for _ in range(rng.randrange(1, 3)):
        first_th, first_en, adult_prefix, _ = rng.choice(GIVEN_NAMES)
        boy = adult_prefix == "นาย"
        born = as_of - timedelta(days=rng.randrange(365, 13 * 365))
        children.append(
            SyntheticChild(
                citizen_id=synthetic_citizen_id(rng),
                prefix_th="เด็กชาย" if boy else "เด็กหญิง",
                first_th=first_th,
                last_th=resident.last_th,
                prefix_en="Master" if boy else "Miss",
                first_en=first_en,
                last_en=resident.last_en,
                sex="male" if boy else "female",
                date_of_birth=born,
            )
        )
    return children


def history(resident: SyntheticResident, as_of: date) -> InsuredHistory:
    """The full synthetic history of ``resident`` as of ``as_of`` (reproducible)."""
    rng = _rng(resident.citizen_id)
    last_month = _month_index(as_of) - 1  # the month before: this month's is not in yet
    if resident.status == "resigned":
        last_month -= rng.randrange(1, 36)
    contributions, first_month = _contributions(resident, last_month)
    first_day = _first_of(first_month)
    last_day = min(as_of, _first_of(last_month + 1))
    benefits = _benefits(resident, rng, first_day, last_day)
    savings = _savings(resident, contributions)
    entitlement = _entitlement(resident, rng, as_of)

    account = None
    if rng.random() < 0.7:
        account = EAccount(
            insurance_number=resident.citizen_id,
            phone=_phone(rng),
            email=_email(resident, rng) if rng.random() < 0.5 else None,
            must_change_password=rng.random() < 0.1,
        )
    identity = None
    roll = rng.random()
    if roll < 0.55:
        identity = IdentityAccount(
            citizen_id=resident.citizen_id,
            level=2 if roll < 0.1 else 1,
            phone=account.phone if account else _phone(rng),
            email=account.email if account else None,
            created_on=as_of - timedelta(days=rng.randrange(1, 1500)),
            guardian=None,
        )
    children = _children(resident, rng, as_of)
    child_identities = []
    if identity is not None:
        child_identities = [
            IdentityAccount(
                citizen_id=child.citizen_id,
                level=1,
                phone=None,
                email=None,
                created_on=max(identity.created_on, child.date_of_birth),
                guardian=resident.citizen_id,
            )
            for child in children
            if rng.random() < 0.6
        ]
    return InsuredHistory(
        citizen_id=resident.citizen_id,
        entitlement=entitlement,
        contributions=contributions,
        benefits=benefits,
        old_age_savings=savings,
        account=account,
        identity=identity,
        children=children,
        child_identities=child_identities,
    )
