"""Changing a resident's record: each change updates the summary and notes the change log,
in the same transaction, so the stations serving the resident's building receive it."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from contract import BENEFIT_TYPES, PAYMENT_METHODS
from sync_server.db import database, write_transaction
from sync_server.records.changes import log_changes
from sync_server.records.models import (
    BenefitPayment,
    Contribution,
    Entitlement,
    InsuredPerson,
    OldAgeSavings,
    PopulationRecord,
)

STATUSES = ("section33", "section39", "resigned")


class RecordNotFoundError(LookupError):
    """No insured person has this citizen id."""


def _person(citizen_id: str) -> InsuredPerson:
    person = InsuredPerson.get_or_none(InsuredPerson.citizen_id == citizen_id)
    if person is None:
        raise RecordNotFoundError("no insured person with this citizen id")
    return person


def refresh_summary(person: InsuredPerson, as_of: date | None = None) -> None:
    """Recompute the summary's totals from the detail tables and date it ``as_of``."""
    cid = person.citizen_id
    contributions = list(Contribution.select().where(Contribution.citizen == cid))
    benefits = list(BenefitPayment.select().where(BenefitPayment.citizen == cid))
    savings = list(OldAgeSavings.select().where(OldAgeSavings.citizen == cid))
    person.contributions_count = sum(row.payments for row in contributions)
    person.contributions_baht = sum((Decimal(row.amount) for row in contributions), Decimal(0))
    person.benefits_count = len(benefits)
    person.benefits_baht = sum((Decimal(row.amount) for row in benefits), Decimal(0))
    person.old_age_savings_baht = sum(
        (Decimal(r.employee) + Decimal(r.employer) + Decimal(r.government) for r in savings),
        Decimal(0),
    )
    person.as_of = as_of or date.today()
    person.save()


def record_benefit_payment(
    citizen_id: str,
    *,
    paid_on: date,
    benefit_type: str,
    method: str,
    amount: Decimal,
    as_of: date | None = None,
) -> None:
    """Add a paid benefit claim to a resident's record."""
    if benefit_type not in BENEFIT_TYPES or method not in PAYMENT_METHODS:
        raise ValueError("unknown benefit type or payment method")
    if amount < 0:
        raise ValueError("a benefit amount is never negative")
    with write_transaction(database.obj):
        person = _person(citizen_id)
        BenefitPayment.create(
            citizen=citizen_id,
            paid_on=paid_on,
            benefit_type=benefit_type,
            method=method,
            amount=amount,
        )
        refresh_summary(person, as_of)
        log_changes(database.obj, [(citizen_id, person.building)])


def record_contribution(
    citizen_id: str,
    *,
    year: int,
    payments: int,
    amount: Decimal,
    savings: tuple[Decimal, Decimal, Decimal] | None = None,
    as_of: date | None = None,
) -> None:
    """Add ``payments`` and ``amount`` to a year's contributions (and its old-age savings:
    employee, employer, government)."""
    if payments < 0 or amount < 0:
        raise ValueError("contributions are never negative")
    with write_transaction(database.obj):
        person = _person(citizen_id)
        Contribution.insert(
            citizen=citizen_id, year=year, payments=payments, amount=amount
        ).on_conflict(
            conflict_target=[Contribution.citizen, Contribution.year],
            update={
                Contribution.payments: Contribution.payments + payments,
                Contribution.amount: Contribution.amount + amount,
            },
        ).execute()
        if savings is not None:
            employee, employer, government = savings
            OldAgeSavings.insert(
                citizen=citizen_id,
                year=year,
                employee=employee,
                employer=employer,
                government=government,
            ).on_conflict(
                conflict_target=[OldAgeSavings.citizen, OldAgeSavings.year],
                update={
                    OldAgeSavings.employee: OldAgeSavings.employee + employee,
                    OldAgeSavings.employer: OldAgeSavings.employer + employer,
                    OldAgeSavings.government: OldAgeSavings.government + government,
                },
            ).execute()
        refresh_summary(person, as_of)
        log_changes(database.obj, [(citizen_id, person.building)])


def set_insured_status(
    citizen_id: str,
    status: str,
    *,
    hospital: str | None = None,
    card_issued_on: date | None = None,
    card_expires_on: date | None = None,
    as_of: date | None = None,
) -> None:
    """Change a resident's insured status and hospital entitlement (none once resigned)."""
    if status not in STATUSES:
        raise ValueError(f"status must be one of {', '.join(STATUSES)}")
    entitled = status != "resigned" and hospital is not None
    with write_transaction(database.obj):
        person = _person(citizen_id)
        person.status = status
        person.hospital = hospital if entitled else None
        Entitlement.insert(
            citizen=citizen_id,
            entitled=entitled,
            hospital=person.hospital,
            card_issued_on=card_issued_on if entitled else None,
            card_expires_on=card_expires_on if entitled else None,
        ).on_conflict(
            conflict_target=[Entitlement.citizen],
            preserve=[
                Entitlement.entitled,
                Entitlement.hospital,
                Entitlement.card_issued_on,
                Entitlement.card_expires_on,
            ],
        ).execute()
        refresh_summary(person, as_of)
        log_changes(database.obj, [(citizen_id, person.building)])


def move_resident(citizen_id: str, building: str | None) -> None:
    """Record that a resident now lives in ``building``: the old building's stations drop
    the record, the new one's receive it."""
    with write_transaction(database.obj):
        person = _person(citizen_id)
        old = person.building
        person.building = building
        person.save()
        PopulationRecord.update(building=building).where(
            PopulationRecord.citizen_id == citizen_id
        ).execute()
        log_changes(database.obj, [(citizen_id, old), (citizen_id, building)])


def remove_insured(citizen_id: str) -> None:
    """Delete a resident's insured record (and its details); stations drop it."""
    with write_transaction(database.obj):
        person = _person(citizen_id)
        building = person.building
        for model in (Entitlement, Contribution, BenefitPayment, OldAgeSavings):
            model.delete().where(model.citizen == citizen_id).execute()
        person.delete_instance()
        log_changes(database.obj, [(citizen_id, building)])
