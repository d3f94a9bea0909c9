"""The fleet's tables: each station's last-known state and its enrolment history."""

from __future__ import annotations

import peewee

from sync_server.db import BaseModel, utc_now


class Station(BaseModel):
    """A station as the server last heard of it."""

    station_id = peewee.CharField(primary_key=True, max_length=32)
    first_seen_at = peewee.DateTimeField(default=utc_now)
    last_seen_at = peewee.DateTimeField(default=utc_now)
    presence = peewee.CharField(max_length=16, default="unknown")
    presence_at = peewee.DateTimeField(null=True)
    software_version = peewee.CharField(max_length=64, null=True)
    last_heartbeat_at = peewee.DateTimeField(null=True)
    backlog = peewee.IntegerField(default=0)
    oldest_undelivered_age_s = peewee.FloatField(null=True)
    rejected = peewee.IntegerField(default=0)
    transactions_applied = peewee.BigIntegerField(default=0)
    #: The last heartbeat's device gauges as JSON (printer_state, tamper_open, watchdog_resets...).
    metrics = peewee.TextField(null=True)
    #: Set when the station kept asking past its budgets (sync_server/budgets): it is refused
    #: every service until an operator lifts the quarantine. No default: the ingest's upsert
    #: lists its columns and must not reset these.
    quarantined_at = peewee.DateTimeField(null=True)
    quarantine_reason = peewee.CharField(max_length=200, null=True)


class Enrollment(BaseModel):
    """One enrolment (or certificate rotation) of a station."""

    id = peewee.AutoField()
    station_id = peewee.CharField(max_length=32, index=True)
    certificate_serial = peewee.CharField(max_length=64)
    certificate_sha256 = peewee.CharField(max_length=64)
    not_after = peewee.DateTimeField()
    enrolled_at = peewee.DateTimeField(default=utc_now)
    enrolled_by = peewee.CharField(max_length=64)
    kind = peewee.CharField(max_length=16, default="enrol")  # enrol | rotate | decommission


class HeartbeatSample(BaseModel):
    """A station's heartbeat gauges kept for the charts: the last heartbeat of each
    ``bucket_at`` slot (``fleet/history.py``), dropped after ``HEARTBEAT_HISTORY_DAYS``."""

    id = peewee.BigAutoField()
    station_id = peewee.CharField(max_length=32)
    bucket_at = peewee.DateTimeField(index=True)
    received_at = peewee.DateTimeField()
    backlog = peewee.IntegerField()
    oldest_undelivered_age_s = peewee.FloatField(null=True)
    printer_state = peewee.SmallIntegerField(null=True)
    disk_free_pct = peewee.FloatField(null=True)
    tamper_open = peewee.BooleanField(null=True)
    software_version = peewee.CharField(max_length=64, null=True)

    class Meta:
        indexes = ((("station_id", "bucket_at"), True),)


MODELS = [Station, Enrollment, HeartbeatSample]
