"""The audit trail: one :func:`audit` for every call site.

``subject`` is a record id (a petition number, a station id, a username, a ticket), never a
name or a phone number; the columns' lengths are enforced here so no call site can fail on a
long value.
"""

from __future__ import annotations

from collections.abc import Sequence

from sync_server.audit.models import AuditEvent
from sync_server.bulk import insert_rows, time_converter
from sync_server.db import database, utc_now

__all__ = ["AuditEvent", "audit", "audit_each", "audit_many"]


def audit(actor: str, action: str, subject: str | None = None, outcome: str = "ok") -> AuditEvent:
    """Write one audit event (inside the caller's transaction, if any)."""
    return AuditEvent.create(
        actor=actor[:64],
        action=action[:64],
        subject=subject[:64] if subject is not None else None,
        outcome=outcome[:32],
    )


def audit_many(actor: str, action: str, subjects: list[str], outcome: str = "ok") -> int:
    """Write one audit event per subject, all by ``actor``, in one statement (inside the
    caller's transaction)."""
    return audit_each(action, [(actor, subject) for subject in subjects], outcome)


def audit_each(action: str, entries: Sequence[tuple[str, str]], outcome: str = "ok") -> int:
    """Write one audit event per ``(actor, subject)`` in one statement (inside the caller's
    transaction): a batch of the ingest can hold hundreds, and one INSERT each took most
    of its time (bench/sync.py, stations past their SMS budget)."""
    db = database.obj
    at = time_converter(db)(utc_now())
    rows = [(at, actor[:64], action[:64], subject[:64], outcome[:32]) for actor, subject in entries]
    insert_rows(db, AuditEvent, ("at", "actor", "action", "subject", "outcome"), rows)
    return len(rows)
