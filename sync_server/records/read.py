"""Reading whole insured-person records, in the contract's shape, in a few queries.

One record is the summary row plus its four detail tables. For many (a station's replica),
each table is read once per 500 residents instead of once per resident.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from decimal import Decimal

from contract import (
    BenefitClaim,
    ContributionYear,
    HospitalEntitlement,
    InsuredRecord,
    InsuredSummary,
    OldAgeSavingsYear,
)
from sync_server.records.models import (
    BenefitPayment,
    Contribution,
    Entitlement,
    InsuredPerson,
    OldAgeSavings,
)

_CHUNK = 500
_CENT = Decimal("0.01")


def _baht(value: Decimal | int | float) -> Decimal:
    # SQLite keeps DECIMAL columns as numbers (72900 comes back as Decimal("72900")): give the
    # contract its two decimal places back.
    return Decimal(str(value)).quantize(_CENT)


def summary_of(person: InsuredPerson) -> InsuredSummary:
    """The contract's summary of a master record."""
    return InsuredSummary(
        citizen_id=person.citizen_id,
        full_name_th=person.full_name_th,
        full_name_en=person.full_name_en,
        status=person.status,
        hospital=person.hospital,
        contributions_baht=_baht(person.contributions_baht),
        contributions_count=person.contributions_count,
        benefits_baht=_baht(person.benefits_baht),
        benefits_count=person.benefits_count,
        old_age_savings_baht=_baht(person.old_age_savings_baht),
    )


def insured_records(citizen_ids: Iterable[str]) -> dict[str, InsuredRecord]:
    """The whole records of ``citizen_ids`` that exist, by citizen id."""
    ids = list(dict.fromkeys(citizen_ids))
    records: dict[str, InsuredRecord] = {}
    for start in range(0, len(ids), _CHUNK):
        records.update(_read_chunk(ids[start : start + _CHUNK]))
    return records


def insured_record(citizen_id: str) -> InsuredRecord | None:
    """The whole record of one insured person, or ``None``."""
    return insured_records([citizen_id]).get(citizen_id)


def _read_chunk(ids: list[str]) -> dict[str, InsuredRecord]:
    persons = list(InsuredPerson.select().where(InsuredPerson.citizen_id.in_(ids)))
    if not persons:
        return {}
    found = [p.citizen_id for p in persons]
    entitlements = {
        e.citizen_id: e for e in Entitlement.select().where(Entitlement.citizen.in_(found))
    }
    contributions: dict[str, list[ContributionYear]] = defaultdict(list)
    query = (
        Contribution.select(
            Contribution.citizen, Contribution.year, Contribution.payments, Contribution.amount
        )
        .where(Contribution.citizen.in_(found))
        .order_by(Contribution.citizen, Contribution.year.desc())
        .tuples()
    )
    for cid, year, payments, amount in query:
        contributions[cid].append(
            ContributionYear(year=year, payments=payments, amount=_baht(amount))
        )
    benefits: dict[str, list[BenefitClaim]] = defaultdict(list)
    query = (
        BenefitPayment.select(
            BenefitPayment.citizen,
            BenefitPayment.paid_on,
            BenefitPayment.benefit_type,
            BenefitPayment.method,
            BenefitPayment.amount,
        )
        .where(BenefitPayment.citizen.in_(found))
        .order_by(BenefitPayment.citizen, BenefitPayment.paid_on.desc(), BenefitPayment.id)
        .tuples()
    )
    for cid, paid_on, benefit_type, method, amount in query:
        benefits[cid].append(
            BenefitClaim(
                paid_on=paid_on, benefit_type=benefit_type, method=method, amount=_baht(amount)
            )
        )
    savings: dict[str, list[OldAgeSavingsYear]] = defaultdict(list)
    query = (
        OldAgeSavings.select(
            OldAgeSavings.citizen,
            OldAgeSavings.year,
            OldAgeSavings.employee,
            OldAgeSavings.employer,
            OldAgeSavings.government,
        )
        .where(OldAgeSavings.citizen.in_(found))
        .order_by(OldAgeSavings.citizen, OldAgeSavings.year.desc())
        .tuples()
    )
    for cid, year, employee, employer, government in query:
        savings[cid].append(
            OldAgeSavingsYear(
                year=year,
                employee=_baht(employee),
                employer=_baht(employer),
                government=_baht(government),
            )
        )
    records = {}
    for person in persons:
        cid = person.citizen_id
        entitlement = entitlements.get(cid)
        records[cid] = InsuredRecord(
            summary=summary_of(person),
            as_of=person.as_of,
            building=person.building,
            hospital=HospitalEntitlement(
                entitled=bool(entitlement and entitlement.entitled),
                hospital=entitlement.hospital if entitlement else None,
                card_issued_on=entitlement.card_issued_on if entitlement else None,
                card_expires_on=entitlement.card_expires_on if entitlement else None,
            ),
            contributions=contributions.get(cid, []),
            benefits=benefits.get(cid, []),
            old_age_savings=savings.get(cid, []),
        )
    return records


def building_residents(building: str) -> list[str]:
    """The citizen ids of the insured persons living in ``building``."""
    query = (
        InsuredPerson.select(InsuredPerson.citizen_id)
        .where(InsuredPerson.building == building)
        .order_by(InsuredPerson.citizen_id)
    )
    return [cid for (cid,) in query.tuples()]


def residence_of(citizen_id: str) -> tuple[bool, str | None]:
    """Whether the insured person exists, and the building they live in (if known)."""
    row = (
        InsuredPerson.select(InsuredPerson.building)
        .where(InsuredPerson.citizen_id == citizen_id)
        .tuples()
        .first()
    )
    return (row is not None, row[0] if row else None)
