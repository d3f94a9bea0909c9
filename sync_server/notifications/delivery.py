"""``dcs-server notify``: delivers the notification outbox (e-mail and webhook rows).

The pattern of the SMS outbox (``sync_server/sms/outbox.py``): a row is claimed by a
compare-and-set on ``(state, next_attempt_at)`` (a lease, so a worker killed mid-send leaves
it to be sent again), no database lock is held during the network call, a failure is retried
with doubling backoff and jitter up to ``NOTIFY_MAX_ATTEMPTS``, and a permanent refusal (a
4xx, a refused address) fails at once. The text is written at send time from the alarm and
the rule, in the rule's language.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sync_server.dashboard.models import Alarm
from sync_server.db import database, utc_now, write_transaction
from sync_server.notifications.dispatch import PENDING, alarm_params
from sync_server.notifications.models import Notification, NotificationRule
from sync_server.notifications.senders import (
    DeliveryError,
    EmailSender,
    SmtpSettings,
    WebhookSender,
)
from sync_server.notifications.texts import long_text, short_text
from sync_server.ops.beats import Beater
from sync_server.ops.drain import DrainWorker

log = logging.getLogger(__name__)

SENDING, SENT, FAILED = "sending", "sent", "failed"

#: Config keys of the notify worker and their defaults.
NOTIFY_DEFAULTS: dict[str, object] = {
    "NOTIFY_POLL_S": 2.0,
    "NOTIFY_BATCH": 50,
    "NOTIFY_LEASE_S": 120.0,
    "NOTIFY_BACKOFF_S": 10.0,
    "NOTIFY_BACKOFF_MAX_S": 900.0,
    "NOTIFY_MAX_ATTEMPTS": 8,
    "NOTIFY_SMTP_HOST": None,
    "NOTIFY_SMTP_PORT": 25,
    "NOTIFY_SMTP_FROM": "dcs-alarms@localhost",
    "NOTIFY_SMTP_USER": None,
    "NOTIFY_SMTP_PASSWORD": None,
    "NOTIFY_SMTP_STARTTLS": False,
    "NOTIFY_SMTP_TIMEOUT_S": 10.0,
    "NOTIFY_WEBHOOK_SECRET": None,
    "NOTIFY_WEBHOOK_TIMEOUT_S": 5.0,
}


@dataclass(frozen=True)
class Delivery:
    """What happened to one notification in one pass."""

    notification_id: int
    state: str
    error: str | None = None


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _setting(config: Mapping[str, Any], key: str) -> Any:
    value = config.get(key)
    return NOTIFY_DEFAULTS[key] if value is None else value


class NotificationOutbox:
    """Sends due e-mail and webhook notifications; see the module docstring."""

    def __init__(
        self,
        config: Mapping[str, Any],
        *,
        clock: Callable[[], datetime] = utc_now,
        jitter: Callable[[], float] = random.random,
    ) -> None:
        self.config = config
        smtp = SmtpSettings.from_config(config)
        self.email = EmailSender(smtp) if smtp is not None else None
        secret = config.get("NOTIFY_WEBHOOK_SECRET")
        self.webhook = (
            WebhookSender(str(secret).encode(), float(_setting(config, "NOTIFY_WEBHOOK_TIMEOUT_S")))
            if secret
            else None
        )
        self.batch = int(_setting(config, "NOTIFY_BATCH"))
        self.lease = timedelta(seconds=float(_setting(config, "NOTIFY_LEASE_S")))
        self.backoff_s = float(_setting(config, "NOTIFY_BACKOFF_S"))
        self.backoff_max_s = float(_setting(config, "NOTIFY_BACKOFF_MAX_S"))
        self.max_attempts = int(_setting(config, "NOTIFY_MAX_ATTEMPTS"))
        self._clock = clock
        self._jitter = jitter

    def deliver_due(self) -> list[Delivery]:
        """Send every notification whose time has come (one batch)."""
        now = self._clock()
        due = (
            Notification.select(Notification.id)
            .where(
                Notification.state.in_((PENDING, SENDING)) & (Notification.next_attempt_at <= now)
            )
            .order_by(Notification.next_attempt_at, Notification.id)
            .limit(self.batch)
        )
        ids = [row.id for row in due]
        return [d for d in (self._deliver_one(i) for i in ids) if d is not None]

    def _deliver_one(self, notification_id: int) -> Delivery | None:
        row = self._claim(notification_id)
        if row is None:
            return None
        rule = NotificationRule.get_or_none(NotificationRule.id == row.rule_id)
        alarm = Alarm.get_or_none(Alarm.id == row.alarm_id)
        if rule is None or alarm is None:
            return self._finish(row, FAILED, "the rule or the alarm is gone")
        try:
            self._send(row, rule, alarm_params(alarm))
        except DeliveryError as exc:
            if not exc.retryable or row.attempts >= self.max_attempts:
                return self._finish(row, FAILED, str(exc))
            return self._reschedule(row, str(exc))
        return self._finish(row, SENT, None)

    def _send(self, row: Notification, rule: NotificationRule, params: dict[str, str]) -> None:
        language = rule.language or "th"
        if row.channel == "email":
            if self.email is None:
                raise DeliveryError("no NOTIFY_SMTP_HOST configured")
            self.email.send(
                rule.target,
                short_text(params, language),
                long_text(params, language, rule.id),
                message_id=f"notification-{row.id}",
            )
        elif row.channel == "webhook":
            if self.webhook is None:
                raise DeliveryError("no NOTIFY_WEBHOOK_SECRET configured")
            payload = {**params, "notification_id": row.id, "text": short_text(params, language)}
            self.webhook.send(rule.target, payload, delivery_id=str(row.id))
        else:
            raise DeliveryError(
                f"channel {row.channel} is not the notify worker's", retryable=False
            )

    def _claim(self, notification_id: int) -> Notification | None:
        now = self._clock()
        with write_transaction(database.obj):
            row = Notification.get_or_none(Notification.id == notification_id)
            if row is None or row.state not in (PENDING, SENDING):
                return None
            if row.state == SENDING and _aware(row.next_attempt_at) > now:
                return None  # leased by another worker
            claimed = (
                Notification.update(
                    state=SENDING,
                    attempts=Notification.attempts + 1,
                    next_attempt_at=now + self.lease,
                )
                .where(
                    (Notification.id == notification_id)
                    & (Notification.state == row.state)
                    & (Notification.next_attempt_at == row.next_attempt_at)
                )
                .execute()
            )
        if claimed != 1:
            return None
        row.attempts += 1
        return row

    def _reschedule(self, row: Notification, error: str) -> Delivery:
        delay = min(self.backoff_s * 2 ** (row.attempts - 1), self.backoff_max_s)
        delay *= 0.5 + self._jitter() / 2  # a recovered receiver is not flooded at once
        with write_transaction(database.obj):
            Notification.update(
                state=PENDING,
                next_attempt_at=self._clock() + timedelta(seconds=delay),
                last_error=error[:200],
            ).where(Notification.id == row.id).execute()
        log.warning(
            "notification %d (%s) not delivered, attempt %d, retry in %.0f s: %s",
            row.id,
            row.channel,
            row.attempts,
            delay,
            error,
        )
        return Delivery(row.id, PENDING, error)

    def _finish(self, row: Notification, state: str, error: str | None) -> Delivery:
        with write_transaction(database.obj):
            Notification.update(
                state=state, finished_at=self._clock(), last_error=error and error[:200]
            ).where(Notification.id == row.id).execute()
        if state == FAILED:
            log.error("notification %d (%s) failed: %s", row.id, row.channel, error)
        else:
            log.info("notification %d (%s) delivered", row.id, row.channel)
        return Delivery(row.id, state, error)


class NotifyWorker(DrainWorker):
    """Delivers the notification outbox every ``NOTIFY_POLL_S`` and beats as ``notify``."""

    def __init__(
        self, outbox: NotificationOutbox, poll_s: float = 2.0, *, beater: Beater | None = None
    ) -> None:
        super().__init__("notify", outbox.deliver_due, poll_s, beater or Beater("notify"))
        self.outbox = outbox
