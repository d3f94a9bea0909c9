"""The audit trail's one table."""

from __future__ import annotations

import peewee

from sync_server.db import BaseModel, utc_now


class AuditEvent(BaseModel):
    """Who did what to which record, for the audit trail."""

    id = peewee.AutoField()
    at = peewee.DateTimeField(default=utc_now, index=True)
    actor = peewee.CharField(max_length=64)
    action = peewee.CharField(max_length=64)
    subject = peewee.CharField(max_length=64, null=True)
    outcome = peewee.CharField(max_length=32)


MODELS = [AuditEvent]
