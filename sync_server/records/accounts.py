"""Insurance e-accounts (seed 000) and electronic identity accounts (seed 001)."""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from datetime import date

from sync_server.db import database, utc_now, write_transaction
from sync_server.records.guardianships import is_guardian_of
from sync_server.records.models import IdentityAccount, InsuranceAccount, PopulationRecord
from sync_server.records.passwords import (
    canonical_readable,
    hash_password,
    readable_password,
    verify_password,
)

#: Seed 000's answer when the insurance number and the phone do not match.
NO_MATCH_MESSAGE = (
    "The phone number and the insurance code do not match or are not registered with the "
    "social insurance agency"
)
#: Seed 001: under this age an account is registered under a parent's or guardian's.
GUARDIAN_AGE = 14


def reset_password(insurance_number: str, phone: str) -> str | None:
    """Seed 000: a new temporary password when ``phone`` is the account's registered number.

    Returns the password (to show once, never to store, print or log) or ``None`` when the
    two do not match or no such account exists (the caller says :data:`NO_MATCH_MESSAGE`,
    which does not tell which). The account must change it at next login. It is grouped
    for reading (:func:`~sync_server.records.passwords.readable_password`); the hash is of
    its canonical form, which :func:`check_password` also accepts.
    """
    account = InsuranceAccount.get_or_none(InsuranceAccount.insurance_number == insurance_number)
    # Compare in constant time, and hash even on a miss, so timing tells nothing either.
    registered = account.phone if account is not None else "\0" * len(phone)
    matches = hmac.compare_digest(registered.encode(), phone.encode()) and account is not None
    password = readable_password()
    password_hash = hash_password(canonical_readable(password))
    if not matches:
        return None
    with write_transaction(database.obj):
        InsuranceAccount.update(
            password_hash=password_hash,
            must_change_password=True,
            password_changed_at=utc_now(),
        ).where(InsuranceAccount.insurance_number == insurance_number).execute()
    return password


def check_password(insurance_number: str, password: str) -> bool:
    """Whether ``password`` is the e-account's current password.

    While it is a temporary one (must be changed), it is compared as the resident may type
    it from the screen: with or without the grouping dashes or spaces, in any case.
    """
    account = InsuranceAccount.get_or_none(InsuranceAccount.insurance_number == insurance_number)
    if account is None:
        return False
    if verify_password(account.password_hash, password):
        return True
    # Only a temporary password is normalised: a password the resident chose keeps its
    # dashes, spaces and case.
    canonical = canonical_readable(password)
    return (
        account.must_change_password
        and canonical != password
        and verify_password(account.password_hash, canonical)
    )


def change_password(insurance_number: str, current: str, new: str) -> bool:
    """Replace the password after checking the current one; clears the must-change flag."""
    if not check_password(insurance_number, current):
        return False
    with write_transaction(database.obj):
        InsuranceAccount.update(
            password_hash=hash_password(new),
            must_change_password=False,
            password_changed_at=utc_now(),
        ).where(InsuranceAccount.insurance_number == insurance_number).execute()
    return True


@dataclass(frozen=True)
class Declared:
    """What a citizen declares when registering an e-ID account (from the card, confirmed)."""

    citizen_id: str
    first_th: str
    last_th: str
    date_of_birth: date | None
    phone: str
    email: str | None = None


class IdentityRegistrationError(ValueError):
    """The registration cannot go ahead; ``reason`` is a code the kiosk translates."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def age_on(born: date, day: date) -> int:
    """Whole years from ``born`` to ``day``."""
    return day.year - born.year - ((day.month, day.day) < (born.month, born.day))


def register_identity_level1(
    declared: Declared, *, guardian_citizen_id: str | None = None, today: date | None = None
) -> IdentityAccount:
    """Seed 001, level 1: created when the declared data matches the population record.

    Under 14 the account is registered under a guardian's existing account
    (``guardian_citizen_id``), who the population register must link to the child as a
    parent or guardian; 14 and over, without one. Reasons: ``not_in_register``,
    ``data_mismatch``, ``already_registered``, ``guardian_required``,
    ``guardian_not_registered``, ``not_guardian``, ``guardian_not_needed``.
    """
    today = today or date.today()
    person = PopulationRecord.get_or_none(PopulationRecord.citizen_id == declared.citizen_id)
    if person is None:
        raise IdentityRegistrationError("not_in_register")
    if (person.first_th, person.last_th, person.date_of_birth) != (
        declared.first_th,
        declared.last_th,
        declared.date_of_birth,
    ):
        raise IdentityRegistrationError("data_mismatch")
    born = person.date_of_birth or date(person.birth_year, 1, 1)
    minor = age_on(born, today) < GUARDIAN_AGE
    if minor and guardian_citizen_id is None:
        raise IdentityRegistrationError("guardian_required")
    if not minor and guardian_citizen_id is not None:
        raise IdentityRegistrationError("guardian_not_needed")
    with write_transaction(database.obj):
        if IdentityAccount.get_or_none(IdentityAccount.citizen == declared.citizen_id):
            raise IdentityRegistrationError("already_registered")
        if guardian_citizen_id is not None and not IdentityAccount.get_or_none(
            IdentityAccount.citizen == guardian_citizen_id
        ):
            raise IdentityRegistrationError("guardian_not_registered")
        # Having an account is not enough: any adult could otherwise register (and then act
        # for) a child who is not theirs, knowing only what is on the child's card.
        if guardian_citizen_id is not None and not is_guardian_of(
            guardian_citizen_id, declared.citizen_id
        ):
            raise IdentityRegistrationError("not_guardian")
        return IdentityAccount.create(
            citizen=declared.citizen_id,
            level=1,
            phone=declared.phone,
            email=declared.email,
            guardian=guardian_citizen_id,
            created_on=today,
        )
