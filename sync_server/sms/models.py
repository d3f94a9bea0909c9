"""The SMS tables: the local sink's messages and the production driver's delivery log."""

from __future__ import annotations

import peewee

from sync_server.db import BaseModel, utc_now


class SentSms(BaseModel):
    """A message the local sink "sent": demo and tests read it instead of a phone.

    The full number and text are kept because reading them back is the sink's purpose; the
    sink is never the production driver (see docs/backoffice.md).
    """

    id = peewee.BigAutoField()
    to = peewee.CharField(max_length=16, index=True)
    text = peewee.TextField()
    sender = peewee.CharField(max_length=16)
    status = peewee.CharField(max_length=16, default="delivered")
    created_at = peewee.DateTimeField(default=utc_now, index=True)


class SmsDispatch(BaseModel):
    """One message handed to the production HTTP gateway: the outcome, never the text.

    The number is stored masked (``081-XXX-5678``) and errors carry the HTTP status or the
    exception's kind, never the gateway's response body (it may echo the message).
    """

    id = peewee.BigAutoField()
    driver = peewee.CharField(max_length=16)
    to_masked = peewee.CharField(max_length=16)
    sender = peewee.CharField(max_length=16)
    status = peewee.CharField(max_length=16)  # sent | failed
    attempts = peewee.SmallIntegerField()
    gateway_id = peewee.CharField(max_length=128, null=True)
    error = peewee.CharField(max_length=200, null=True)
    created_at = peewee.DateTimeField(default=utc_now, index=True)


MODELS = [SentSms, SmsDispatch]
