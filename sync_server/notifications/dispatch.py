"""Who hears of a new alarm: called in the transaction that opens the alarm.

For each enabled :class:`NotificationRule` that matches the alarm's rule and severity, one
:class:`Notification` row (its key ``<alarm id>:<rule id>`` is unique, so re-evaluating an
open alarm never notifies twice). An SMS is queued in the SMS outbox right here, in the same
transaction; an e-mail or a webhook call waits in the notification outbox for
``dcs-server notify``: the alarm evaluation never waits on the network. A station in a
maintenance window, or a recipient told about the same station and rule within its quiet
period, gets a ``suppressed`` row instead, which says why.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from sync_server.dashboard.models import Alarm
from sync_server.db import utc_now
from sync_server.notifications import maintenance
from sync_server.notifications.models import Notification, NotificationRule
from sync_server.notifications.texts import short_text
from sync_server.sms.outbox import enqueue, register_template

CHANNELS = ("sms", "email", "webhook")
SEVERITIES = ("warning", "critical")
SMS_TEMPLATE = "alarm.notify"
PENDING, SMS, SUPPRESSED = "pending", "sms", "suppressed"


def _sms_text(params: Mapping[str, Any], language: str, config: Mapping[str, Any]) -> str:
    return short_text(params, language or "th")


register_template(SMS_TEMPLATE, _sms_text)


def alarm_params(alarm: Alarm) -> dict[str, str]:
    """What every channel says about ``alarm`` (nothing personal: alarms hold none)."""
    raised = alarm.raised_at if alarm.raised_at.tzinfo else alarm.raised_at.replace(tzinfo=UTC)
    return {
        "alarm_id": str(alarm.id),
        "station_id": alarm.station_id,
        "alarm_rule": alarm.rule,
        "severity": alarm.severity,
        "raised_at": raised.astimezone(UTC).isoformat(),
        "detail": alarm.message,
    }


def matches(rule: NotificationRule, alarm_rule: str, severity: str) -> bool:
    """Whether ``rule`` wants alarms of ``alarm_rule`` at ``severity``."""
    if rule.alarm_rule not in ("*", alarm_rule):
        return False
    return rule.min_severity != "critical" or severity == "critical"


def notify_alarm(alarm: Alarm, now: datetime | None = None) -> list[Notification]:
    """Write the notifications of the newly opened ``alarm`` (in the caller's transaction)."""
    now = now or utc_now()
    rules = [
        rule
        for rule in NotificationRule.select().where(NotificationRule.enabled == True)  # noqa: E712
        if matches(rule, alarm.rule, alarm.severity)
    ]
    if not rules:
        return []
    window = maintenance.silencing(alarm.station_id, now)
    written = []
    for rule in rules:
        key = f"{alarm.id}:{rule.id}"
        if Notification.select().where(Notification.dedupe_key == key).exists():
            continue  # this alarm was told to this recipient already
        reason = "maintenance" if window is not None else _quiet(rule, alarm, now)
        row = Notification(
            alarm_id=alarm.id,
            rule_id=rule.id,
            station_id=alarm.station_id,
            alarm_rule=alarm.rule,
            severity=alarm.severity,
            channel=rule.channel,
            dedupe_key=key,
            state=PENDING,
            next_attempt_at=now,
            created_at=now,
        )
        if reason is not None:
            row.state, row.reason, row.finished_at = SUPPRESSED, reason, now
        elif rule.channel == "sms":
            row.state, row.finished_at = SMS, now
            row.sms_outbox_id = enqueue(
                rule.target,
                SMS_TEMPLATE,
                alarm_params(alarm),
                language=rule.language,
                dedupe_key=f"alarm:{key}",
                now=now,
            )
        row.save(force_insert=True)
        written.append(row)
    return written


def _quiet(rule: NotificationRule, alarm: Alarm, now: datetime) -> str | None:
    """``"quiet"`` when this recipient was told about this station and rule lately."""
    if rule.quiet_period_s <= 0:
        return None
    since = now - timedelta(seconds=rule.quiet_period_s)
    told = Notification.select().where(
        Notification.rule_id == rule.id,
        Notification.station_id == alarm.station_id,
        Notification.alarm_rule == alarm.rule,
        Notification.state != SUPPRESSED,
        Notification.created_at > since,
    )
    return "quiet" if told.exists() else None
