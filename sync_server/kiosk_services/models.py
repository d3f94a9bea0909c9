"""The e-ID account's password, set at the kiosk (seed 001: "the citizen sets a password").

Kept apart from ``IdentityAccount`` (the records' table) so the records do not change shape;
only the argon2id hash is stored. Bound to the database proxy directly (not through
``sync_server.models``), so ``ALL_MODELS`` can list it without an import cycle.
"""

from __future__ import annotations

from datetime import UTC, datetime

import peewee

from sync_server.db import database


def utc_now() -> datetime:
    """The server's clock (UTC, aware)."""
    return datetime.now(UTC)


class IdentityCredential(peewee.Model):
    """The argon2id hash of an e-ID account's password."""

    citizen_id = peewee.CharField(primary_key=True, max_length=13)
    password_hash = peewee.CharField(max_length=200)
    set_at = peewee.DateTimeField(default=utc_now)

    class Meta:
        database = database


KIOSK_MODELS = [IdentityCredential]
