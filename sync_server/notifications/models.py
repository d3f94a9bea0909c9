"""The notification tables: who is told of which alarms, when a station is silenced, and each
notification's delivery (the outbox of e-mail and webhook messages)."""

from __future__ import annotations

import peewee

from sync_server.db import BaseModel, utc_now


class NotificationRule(BaseModel):
    """Tell one recipient (``channel`` + ``target``) of the alarms of ``alarm_rule``.

    ``alarm_rule`` is an alarm rule's name (``offline``, ``paper_out``, ``tamper``...) or
    ``*`` for all; ``min_severity`` ``warning`` takes warnings and criticals, ``critical``
    criticals only. After a notification about one station and alarm rule, the same recipient
    hears nothing more about them for ``quiet_period_s`` (a flapping condition texts once).
    """

    id = peewee.AutoField()
    alarm_rule = peewee.CharField(max_length=32)
    min_severity = peewee.CharField(max_length=16, default="warning")
    channel = peewee.CharField(max_length=16)  # sms | email | webhook
    #: A mobile number, an e-mail address or an http(s) URL: staff contacts, never a citizen's.
    target = peewee.CharField(max_length=200)
    language = peewee.CharField(max_length=8, default="th")
    quiet_period_s = peewee.IntegerField(default=3600)
    enabled = peewee.BooleanField(default=True)
    created_by = peewee.CharField(max_length=64)
    created_at = peewee.DateTimeField(default=utc_now)


class MaintenanceWindow(BaseModel):
    """Between ``starts_at`` and ``ends_at`` a station (or every station of a building) raises
    alarms on the dashboard as usual, but nobody is notified of them."""

    id = peewee.AutoField()
    station_id = peewee.CharField(max_length=32, null=True, index=True)
    building = peewee.CharField(max_length=64, null=True)
    starts_at = peewee.DateTimeField()
    ends_at = peewee.DateTimeField(index=True)
    reason = peewee.CharField(max_length=200)
    created_by = peewee.CharField(max_length=64)
    created_at = peewee.DateTimeField(default=utc_now)


class Notification(BaseModel):
    """One alarm told (or held back) to one rule's recipient; written with the alarm.

    E-mail and webhook rows are the notification outbox (``pending`` → ``sending`` →
    ``sent`` | ``failed``, delivered by ``dcs-server notify``); an SMS row is handed to the
    SMS outbox at once (``sms``, with its message id); ``suppressed`` rows say why nothing
    was sent (``quiet`` or ``maintenance``).
    """

    id = peewee.BigAutoField()
    alarm_id = peewee.IntegerField(index=True)
    rule_id = peewee.IntegerField()
    station_id = peewee.CharField(max_length=32)
    alarm_rule = peewee.CharField(max_length=32)
    severity = peewee.CharField(max_length=16)
    channel = peewee.CharField(max_length=16)
    #: One notification per alarm and rule: ``<alarm id>:<rule id>``.
    dedupe_key = peewee.CharField(max_length=48, unique=True)
    state = peewee.CharField(max_length=16)
    reason = peewee.CharField(max_length=16, null=True)  # quiet | maintenance (suppressed)
    attempts = peewee.SmallIntegerField(default=0)
    #: When it is due (pending) or when its sender's lease runs out (sending).
    next_attempt_at = peewee.DateTimeField()
    created_at = peewee.DateTimeField(default=utc_now, index=True)
    finished_at = peewee.DateTimeField(null=True)
    sms_outbox_id = peewee.BigIntegerField(null=True)
    last_error = peewee.CharField(max_length=200, null=True)

    class Meta:
        indexes = (
            (("state", "next_attempt_at"), False),
            (("rule_id", "station_id", "alarm_rule", "created_at"), False),
        )


MODELS = [NotificationRule, MaintenanceWindow, Notification]
