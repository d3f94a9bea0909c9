"""The e-ID account's password, set at the kiosk (seed 001: "the citizen sets a password").

Kept apart from ``IdentityAccount`` (the records' table) so the records do not change shape;
only the argon2id hash is stored.
"""

from __future__ import annotations

import peewee

from sync_server.db import BaseModel, utc_now


class IdentityCredential(BaseModel):
    """The argon2id hash of an e-ID account's password."""

    citizen_id = peewee.CharField(primary_key=True, max_length=13)
    password_hash = peewee.CharField(max_length=200)
    set_at = peewee.DateTimeField(default=utc_now)


MODELS = [IdentityCredential]
