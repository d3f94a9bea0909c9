"""Server-side records (the master). Times named ``*_at`` are the server's own clock."""

from __future__ import annotations

from datetime import UTC, datetime

import peewee

from sync_server.db import database


def utc_now() -> datetime:
    """The server's clock."""
    return datetime.now(UTC)


class BaseModel(peewee.Model):
    class Meta:
        database = database


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


class AppliedTransaction(BaseModel):
    """A transaction id applied once; its primary key is the exactly-once guarantee."""

    tx_id = peewee.CharField(primary_key=True, max_length=36)
    station_id = peewee.CharField(max_length=32, index=True)
    seq = peewee.BigIntegerField()
    kind = peewee.CharField(max_length=48)
    station_time = peewee.DateTimeField()  # as the station said; never used for ordering
    received_at = peewee.DateTimeField(index=True)


class Petition(BaseModel):
    """A petition or correction request; the number was minted on the station."""

    number = peewee.CharField(primary_key=True, max_length=48)
    tx_id = peewee.CharField(max_length=36, unique=True)
    station_id = peewee.CharField(max_length=32, index=True)
    service = peewee.CharField(max_length=40)
    phone = peewee.CharField(max_length=10)
    citizen_id = peewee.CharField(max_length=13, null=True)
    form = peewee.TextField(default="{}")
    status = peewee.CharField(max_length=24, default="received")
    filed_station_time = peewee.DateTimeField()
    received_at = peewee.DateTimeField(index=True)


class InsuredPerson(BaseModel):
    """The insured-person summary of seed 003 (detail tables come with the records issue)."""

    citizen_id = peewee.CharField(primary_key=True, max_length=13)
    full_name_th = peewee.CharField(max_length=200)
    full_name_en = peewee.CharField(max_length=200, null=True)
    status = peewee.CharField(max_length=16)
    hospital = peewee.CharField(max_length=200, null=True)
    contributions_baht = peewee.DecimalField(max_digits=14, decimal_places=2)
    contributions_count = peewee.IntegerField()
    benefits_baht = peewee.DecimalField(max_digits=14, decimal_places=2)
    benefits_count = peewee.IntegerField()
    old_age_savings_baht = peewee.DecimalField(max_digits=14, decimal_places=2)
    building = peewee.CharField(max_length=64, null=True, index=True)
    as_of = peewee.DateField()


class RejectedMessage(BaseModel):
    """A message the server refused: why, from which topic; never its personal content."""

    id = peewee.AutoField()
    received_at = peewee.DateTimeField(default=utc_now, index=True)
    topic = peewee.CharField(max_length=255)
    topic_station_id = peewee.CharField(max_length=64, null=True)
    tx_id = peewee.CharField(max_length=64, null=True)
    reason = peewee.TextField()
    size = peewee.IntegerField()
    payload_sha256 = peewee.CharField(max_length=64)


class AuditEvent(BaseModel):
    """Who did what to which record, for the audit trail."""

    id = peewee.AutoField()
    at = peewee.DateTimeField(default=utc_now, index=True)
    actor = peewee.CharField(max_length=64)
    action = peewee.CharField(max_length=64)
    subject = peewee.CharField(max_length=64, null=True)
    outcome = peewee.CharField(max_length=32)


ALL_MODELS = [
    Station,
    AppliedTransaction,
    Petition,
    InsuredPerson,
    RejectedMessage,
    AuditEvent,
]

from sync_server.records.models import RECORD_MODELS  # noqa: E402 - they subclass BaseModel

ALL_MODELS.extend(RECORD_MODELS)
from sync_server.otp import MESSAGING_MODELS  # noqa: E402 - SMS log, OTP codes, rate-limit hits

ALL_MODELS.extend(MESSAGING_MODELS)
from sync_server.kiosk_services.models import KIOSK_MODELS  # noqa: E402 - e-ID passwords

ALL_MODELS.extend(KIOSK_MODELS)
from sync_server.api.models import API_MODELS  # noqa: E402 - integration tokens

ALL_MODELS.extend(API_MODELS)
from sync_server.operators.models import OPERATOR_MODELS  # noqa: E402 - accounts, sessions

ALL_MODELS.extend(OPERATOR_MODELS)
from sync_server.dashboard.models import DASHBOARD_MODELS  # noqa: E402 - alarms, commands

ALL_MODELS.extend(DASHBOARD_MODELS)
from sync_server.enrollment_model import ENROLLMENT_MODELS  # noqa: E402 - who enrolled each station

ALL_MODELS.extend(ENROLLMENT_MODELS)
