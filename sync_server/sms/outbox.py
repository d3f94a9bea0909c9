"""The SMS outbox: every text to a citizen is a row written with its cause, then delivered.

A caller :func:`enqueue` s a message inside the database transaction that causes it (a petition
applied, a status changed, a code issued), so a message exists exactly when its cause does.
Delivery happens after the commit, by :func:`deliver_due` in the ``dcs-server sms`` worker
(and, for messages a person is waiting for, at once by :func:`deliver_now`):

- a message is *claimed* by a compare-and-set on ``(state, next_attempt_at)``, so two workers
  never send the same row, and no database lock is held while the gateway is called;
- a claim is a lease: a worker killed mid-send leaves the row to be sent again when the lease
  runs out (at least once; the gateway call is the only step that cannot be undone);
- a gateway failure reschedules the row with doubling backoff and jitter; a gateway outage
  delays messages and loses none, up to ``SMS_OUTBOX_MAX_AGE_S`` (then ``failed``, audited);
- a message with ``expires_at`` (a one-time code) is never sent late: past it, ``expired``;
- ``dedupe_key`` is unique, so one cause never texts twice (a redelivered petition, a retried
  request);
- once a row is final (sent, expired, failed) its number is masked and its parameters dropped:
  the outbox keeps no phone numbers or codes beyond delivery.

The text is rendered at send time from the template's name, the language and the parameters
(:func:`register_template`), in the server's gettext catalogues.
"""

from __future__ import annotations

import contextlib
import json
import logging
import random
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sync_server.db import database, utc_now, write_transaction
from sync_server.ops.beats import Beater
from sync_server.ops.drain import DrainWorker
from sync_server.sms.gateway import DEFAULT_SENDER, SmsError, SmsGateway, mask_phone
from sync_server.sms.models import SmsOutbox

log = logging.getLogger(__name__)

PENDING, SENDING, SENT, EXPIRED, FAILED = "pending", "sending", "sent", "expired", "failed"
FINAL_STATES = (SENT, EXPIRED, FAILED)

#: Outbox settings in the server config (set where the config has none).
OUTBOX_DEFAULTS: dict[str, object] = {
    "SMS_OUTBOX_POLL_S": 1.0,
    "SMS_OUTBOX_BATCH": 50,
    "SMS_OUTBOX_LEASE_S": 120.0,
    "SMS_OUTBOX_BACKOFF_S": 5.0,
    "SMS_OUTBOX_BACKOFF_MAX_S": 600.0,
    "SMS_OUTBOX_MAX_AGE_S": 3 * 24 * 3600.0,
}

#: A template renders (parameters, language, server config) to the message's text.
Renderer = Callable[[Mapping[str, Any], str, Mapping[str, Any]], str]


@dataclass(frozen=True)
class Template:
    """How one kind of message is written and whether a failed send is tried again."""

    render: Renderer
    #: False for messages that are worthless late (a one-time code): one attempt, then failed.
    retry: bool = True


_TEMPLATES: dict[str, Template] = {}


def register_template(name: str, render: Renderer, *, retry: bool = True) -> None:
    """Make ``name`` a template :func:`enqueue` accepts (each feature registers its own)."""
    _TEMPLATES[name] = Template(render, retry)


class OutboxError(ValueError):
    """A message that cannot be queued (an unknown template)."""


def enqueue(
    to: str,
    template: str,
    params: Mapping[str, Any],
    *,
    language: str | None = None,
    dedupe_key: str | None = None,
    expires_at: datetime | None = None,
    sender: str = DEFAULT_SENDER,
    now: datetime | None = None,
) -> int | None:
    """Queue one message in the caller's transaction; its id, or None if ``dedupe_key`` was
    queued before (the first one stands)."""
    if template not in _TEMPLATES:
        raise OutboxError(f"no SMS template {template!r}")
    now = now or utc_now()
    row = outbox_row(to, template, params, language, dedupe_key, expires_at, sender, now)
    query = SmsOutbox.insert(dict(zip(OUTBOX_COLUMNS, row, strict=True)))
    if dedupe_key is not None:
        # Checked first because SQLite's INSERT OR IGNORE reports the previous row's id;
        # the ON CONFLICT clause still settles a race between two PostgreSQL writers.
        if SmsOutbox.select().where(SmsOutbox.dedupe_key == dedupe_key).exists():
            return None
        query = query.on_conflict_ignore()
    return query.execute() or None


#: The columns :func:`outbox_row` fills, for callers that insert in bulk (the ingest worker).
OUTBOX_COLUMNS = (
    "to",
    "sender",
    "template",
    "language",
    "params",
    "dedupe_key",
    "state",
    "attempts",
    "next_attempt_at",
    "expires_at",
    "created_at",
)


def outbox_row(
    to: str,
    template: str,
    params: Mapping[str, Any],
    language: str | None,
    dedupe_key: str | None,
    expires_at: datetime | None,
    sender: str,
    now: object,
) -> tuple:
    """The values of :data:`OUTBOX_COLUMNS` for one new message, due ``now`` (a datetime, or
    one already in the database driver's form for bulk inserts)."""
    encoded = json.dumps(dict(params), ensure_ascii=False, separators=(",", ":"))
    return (to, sender, template, language, encoded, dedupe_key, PENDING, 0, now, expires_at, now)


@dataclass(frozen=True)
class Delivery:
    """What happened to one message in one pass."""

    message_id: int
    state: str
    gateway_id: str | None = None
    error: str | None = None


@dataclass(frozen=True)
class OutboxSettings:
    """The ``SMS_OUTBOX_*`` settings."""

    batch: int = 50
    lease: timedelta = timedelta(seconds=120)
    backoff: timedelta = timedelta(seconds=5)
    backoff_max: timedelta = timedelta(seconds=600)
    max_age: timedelta = timedelta(days=3)

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> OutboxSettings:
        """The settings from the server config (defaults where it has none)."""

        def seconds(key: str) -> timedelta:
            return timedelta(seconds=float(config.get(key, OUTBOX_DEFAULTS[key])))

        return cls(
            batch=int(config.get("SMS_OUTBOX_BATCH", OUTBOX_DEFAULTS["SMS_OUTBOX_BATCH"])),
            lease=seconds("SMS_OUTBOX_LEASE_S"),
            backoff=seconds("SMS_OUTBOX_BACKOFF_S"),
            backoff_max=seconds("SMS_OUTBOX_BACKOFF_MAX_S"),
            max_age=seconds("SMS_OUTBOX_MAX_AGE_S"),
        )


class Outbox:
    """Delivers queued messages through ``gateway``; see the module docstring."""

    def __init__(
        self,
        gateway: SmsGateway,
        config: Mapping[str, Any],
        *,
        clock: Callable[[], datetime] = utc_now,
        jitter: Callable[[], float] = random.random,
    ) -> None:
        self.gateway = gateway
        self.config = config
        self.settings = OutboxSettings.from_config(config)
        self._clock = clock
        self._jitter = jitter

    def deliver_due(self) -> list[Delivery]:
        """Send every message whose time has come (one batch); what happened to each."""
        now = self._clock()
        with _connected():
            due = (
                SmsOutbox.select(SmsOutbox.id)
                .where(SmsOutbox.state.in_((PENDING, SENDING)) & (SmsOutbox.next_attempt_at <= now))
                .order_by(SmsOutbox.next_attempt_at, SmsOutbox.id)
                .limit(self.settings.batch)
            )
            ids = [row.id for row in due]
            return [d for d in (self._deliver_one(i) for i in ids) if d is not None]

    def deliver_now(self, message_ids: list[int | None]) -> list[Delivery]:
        """Try these messages at once (someone is waiting); a failure leaves them to the worker."""
        with _connected():
            return [d for i in message_ids if i is not None and (d := self._deliver_one(i))]

    def _deliver_one(self, message_id: int) -> Delivery | None:
        message = self._claim(message_id)
        if message is None:
            return None  # another worker has it, or it is no longer due
        template = _TEMPLATES.get(message.template)
        now = self._clock()
        if message.expires_at is not None and _aware(message.expires_at) <= now:
            return self._finish(message, EXPIRED, error="expired before it could be sent")
        if template is None:
            return self._finish(message, FAILED, error=f"unknown template {message.template}")
        if not template.retry and message.attempts > 1:
            # Claimed again after a sender died mid-send: a code is not worth a late second try.
            return self._finish(message, FAILED, error="not retried")
        try:
            text = template.render(json.loads(message.params), message.language or "", self.config)
        except (KeyError, ValueError, IndexError) as exc:  # params this template cannot use
            return self._finish(message, FAILED, error=f"cannot render: {type(exc).__name__}")
        try:
            gateway_id = self.gateway.send(message.to, text, message.sender)
        except Exception as exc:  # any driver failure is a failed attempt, never a lost row
            error = (str(exc) if isinstance(exc, SmsError) else type(exc).__name__)[:200]
            too_old = now - _aware(message.created_at) >= self.settings.max_age
            if not template.retry or too_old:
                return self._finish(message, FAILED, error=error)
            return self._reschedule(message, error)
        return self._finish(message, SENT, gateway_id=gateway_id)

    def _claim(self, message_id: int) -> SmsOutbox | None:
        now = self._clock()
        with write_transaction(database.obj):
            message = SmsOutbox.get_or_none(SmsOutbox.id == message_id)
            if message is None or message.state in FINAL_STATES:
                return None
            if _aware(message.next_attempt_at) > now and message.state == SENDING:
                return None  # leased by someone else
            claimed = (
                SmsOutbox.update(
                    state=SENDING,
                    attempts=SmsOutbox.attempts + 1,
                    next_attempt_at=now + self.settings.lease,
                )
                .where(
                    (SmsOutbox.id == message_id)
                    & (SmsOutbox.state == message.state)
                    & (SmsOutbox.next_attempt_at == message.next_attempt_at)
                )
                .execute()
            )
        if claimed != 1:
            return None
        message.attempts += 1
        return message

    def _reschedule(self, message: SmsOutbox, error: str) -> Delivery:
        base = self.settings.backoff.total_seconds() * 2 ** (message.attempts - 1)
        delay = min(base, self.settings.backoff_max.total_seconds())
        delay *= 0.5 + self._jitter() / 2  # spread retries so a recovered gateway is not flooded
        with write_transaction(database.obj):
            SmsOutbox.update(
                state=PENDING,
                next_attempt_at=self._clock() + timedelta(seconds=delay),
                last_error=error,
            ).where(SmsOutbox.id == message.id).execute()
        log.warning(
            "sms %d not sent (attempt %d), retry in %.0f s", message.id, message.attempts, delay
        )
        return Delivery(message.id, PENDING, error=error)

    def _finish(
        self,
        message: SmsOutbox,
        state: str,
        *,
        gateway_id: str | None = None,
        error: str | None = None,
    ) -> Delivery:
        from sync_server.audit import audit

        with write_transaction(database.obj):
            SmsOutbox.update(
                state=state,
                to=mask_phone(message.to),
                params="{}",
                finished_at=self._clock(),
                gateway_id=gateway_id,
                last_error=error,
            ).where(SmsOutbox.id == message.id).execute()
            if state != SENT:
                audit("sms-outbox", f"sms.{message.template}", f"sms:{message.id}", state)
        if state != SENT:
            log.error(
                "sms %d %s after %d attempt(s): %s", message.id, state, message.attempts, error
            )
        return Delivery(message.id, state, gateway_id, error)


def _connected() -> contextlib.AbstractContextManager[object]:
    # A request or a worker may hold the connection already: closing it is theirs to do.
    return database.connection_context() if database.is_closed() else contextlib.nullcontext()


def _aware(value: datetime) -> datetime:
    # SQLite hands back naive datetimes; every time here is UTC.
    from datetime import UTC

    return value if value.tzinfo else value.replace(tzinfo=UTC)


class OutboxWorker(DrainWorker):
    """``dcs-server sms``: deliver due messages every ``SMS_OUTBOX_POLL_S`` until stopped."""

    def __init__(
        self, outbox: Outbox, poll_s: float = 1.0, *, beater: Beater | None = None
    ) -> None:
        """``beater``: records this worker's heartbeat for readiness (default ``sms``)."""
        super().__init__("sms-outbox", outbox.deliver_due, poll_s, beater or Beater("sms"))
        self.outbox = outbox
