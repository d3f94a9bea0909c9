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


class SmsOutbox(BaseModel):
    """One text to a citizen, queued with its cause and delivered after the commit.

    ``to`` and ``params`` are needed to send; once the row is final (sent, expired, failed)
    the number is masked and the parameters dropped (see ``sync_server/sms/outbox.py``).
    """

    id = peewee.BigAutoField()
    to = peewee.CharField(max_length=16)
    sender = peewee.CharField(max_length=16)
    template = peewee.CharField(max_length=32)
    language = peewee.CharField(max_length=8, null=True)
    params = peewee.TextField()
    #: One message per cause: a second enqueue with the same key is ignored.
    dedupe_key = peewee.CharField(max_length=96, null=True, unique=True)
    state = peewee.CharField(max_length=16)  # pending | sending | sent | expired | failed
    attempts = peewee.SmallIntegerField(default=0)
    #: When it is due (pending) or when its sender's lease runs out (sending).
    next_attempt_at = peewee.DateTimeField()
    expires_at = peewee.DateTimeField(null=True)
    created_at = peewee.DateTimeField(default=utc_now, index=True)
    finished_at = peewee.DateTimeField(null=True)
    gateway_id = peewee.CharField(max_length=128, null=True)
    last_error = peewee.CharField(max_length=200, null=True)

    class Meta:
        indexes = ((("state", "next_attempt_at"), False),)


MODELS = [SentSms, SmsDispatch, SmsOutbox]
