"""The OTP codes' table: only keyed hashes of the code and the number are stored."""

from __future__ import annotations

import peewee

from sync_server.db import BaseModel


class OtpCode(BaseModel):
    """An issued code: only its keyed hash, the number's keyed hash, purpose, times, attempts."""

    id = peewee.CharField(primary_key=True, max_length=32)  # random, unguessable
    phone_key = peewee.CharField(max_length=64, index=True)
    purpose = peewee.CharField(max_length=32)
    code_hash = peewee.CharField(max_length=64)
    issued_at = peewee.DateTimeField(index=True)
    expires_at = peewee.DateTimeField()
    attempts = peewee.SmallIntegerField(default=0)
    #: None while live; then ``used``, ``burnt`` or ``superseded``.
    closed = peewee.CharField(max_length=16, null=True)
    closed_at = peewee.DateTimeField(null=True)

    class Meta:
        indexes = ((("phone_key", "purpose", "issued_at"), False),)


MODELS = [OtpCode]
