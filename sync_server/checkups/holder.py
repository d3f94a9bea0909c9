"""Whom a station may book for: the resident whose card it just read, and their phone on file.

A kiosk reads the card and looks its holder up live at once (``lookup.insured_*``, audited
with the station as actor and the citizen id as subject). A check-up request for a resident
this station has not looked up within :data:`CARD_WINDOW` is refused: a stolen station
certificate cannot book for anyone it names without also spending its lookup budgets
(``sync_server/budgets``: 5 a minute, 3 an hour outside its building) on each of them.

The SMS goes to the phone the resident registered (their e-ID account, else their insurance
e-account), never to a number typed at the kiosk, so a booking cannot text a stranger.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sync_server.audit.models import AuditEvent
from sync_server.records.models import IdentityAccount, InsuranceAccount

#: How long after reading a card the station may act for its holder (a visit's length).
CARD_WINDOW = timedelta(minutes=15)


def card_read_here(
    station_id: str, citizen_id: str, now: datetime, window: timedelta = CARD_WINDOW
) -> bool:
    """Whether ``station_id`` looked ``citizen_id`` up (answered, not refused) lately."""
    return (
        AuditEvent.select()
        .where(
            (AuditEvent.actor == f"station:{station_id}")
            & (AuditEvent.subject == citizen_id)
            & AuditEvent.action.startswith("lookup.")
            & AuditEvent.outcome.in_(("found", "not_found"))
            & (AuditEvent.at >= now - window)
        )
        .exists()
    )


def phone_on_file(citizen_id: str) -> str | None:
    """The resident's registered mobile number, or ``None`` when they have none."""
    identity = IdentityAccount.get_or_none(IdentityAccount.citizen == citizen_id)
    if identity is not None and identity.phone:
        return identity.phone
    account = InsuranceAccount.get_or_none(InsuranceAccount.citizen == citizen_id)
    return account.phone if account is not None else None
