"""Alarms raised by the rules and remote commands with their outcome."""

from __future__ import annotations

import peewee

from sync_server.db import BaseModel, utc_now

COMMAND_STATES = ("pending", "done", "failed", "rejected", "expired")


class Alarm(BaseModel):
    """One alarm of one rule on one station; open until cleared (by the rule or a person)."""

    id = peewee.AutoField()
    station_id = peewee.CharField(max_length=32, index=True)
    rule = peewee.CharField(max_length=32)
    severity = peewee.CharField(max_length=16)  # critical | warning
    message = peewee.CharField(max_length=200)
    raised_at = peewee.DateTimeField(default=utc_now, index=True)
    acknowledged_at = peewee.DateTimeField(null=True)
    acknowledged_by = peewee.CharField(max_length=64, null=True)
    cleared_at = peewee.DateTimeField(null=True, index=True)
    cleared_by = peewee.CharField(max_length=64, null=True)  # "rule" when the condition ended


class CommandRecord(BaseModel):
    """A command sent to a station: pending until its result arrives or it expires."""

    command_id = peewee.CharField(primary_key=True, max_length=36)
    station_id = peewee.CharField(max_length=32, index=True)
    name = peewee.CharField(max_length=32)
    issued_by = peewee.CharField(max_length=64)
    issued_at = peewee.DateTimeField(default=utc_now, index=True)
    expires_at = peewee.DateTimeField()
    status = peewee.CharField(max_length=16, default="pending", index=True)
    detail = peewee.CharField(max_length=300, null=True)
    finished_at = peewee.DateTimeField(null=True)


MODELS = [Alarm, CommandRecord]
