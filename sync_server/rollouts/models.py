"""The rollouts' tables: the release registry, rollouts, their waves and one job per station.

A rollout's stations are fixed when it is created (like a Mender deployment to a static
group): each gets a :class:`RolloutJob` in one :class:`RolloutWave`. A job's ``state`` is
``pending`` until sent, then the station's last reported state (``contract.rollout``),
or ``expired`` (not final by the deadline) or ``cancelled`` (its wave never started).
"""

from __future__ import annotations

import peewee

from sync_server.db import BaseModel, utc_now

ROLLOUT_STATES = ("running", "completed", "aborted")
WAVE_STATES = ("pending", "running", "succeeded", "aborted", "cancelled")


class Release(BaseModel):
    """A release uploaded with its manifest, whose signature was verified on upload."""

    id = peewee.AutoField()
    version = peewee.CharField(max_length=64, unique=True)
    arch = peewee.CharField(max_length=32)
    python = peewee.CharField(max_length=16)
    manifest_id = peewee.CharField(max_length=64)  # SHA-256 of the manifest's bytes
    manifest_size = peewee.IntegerField()
    manifest_signature = peewee.BlobField()
    total_bytes = peewee.BigIntegerField()  # the manifest and every file it names
    uploaded_at = peewee.DateTimeField(default=utc_now)
    uploaded_by = peewee.CharField(max_length=64)


class ReleaseFile(BaseModel):
    """A file of a release (the manifest included), stored by its SHA-256."""

    id = peewee.AutoField()
    release = peewee.ForeignKeyField(Release, backref="files", on_delete="CASCADE")
    file_id = peewee.CharField(max_length=64, index=True)
    name = peewee.CharField(max_length=200)
    size = peewee.BigIntegerField()

    class Meta:
        indexes = ((("release", "file_id"), True),)


class Rollout(BaseModel):
    """A release or a configuration change going out to a fixed set of stations in waves.

    ``success_pct``: a wave proceeds once this share of its stations committed.
    ``abort_pct``: the rollout aborts once failures exceed this share of the wave's executed
    jobs, counted from ``min_executed`` executed jobs on (AWS IoT's abortConfig).
    """

    rollout_id = peewee.CharField(primary_key=True, max_length=36)
    kind = peewee.CharField(max_length=16)  # release | config
    release = peewee.ForeignKeyField(Release, null=True, backref="rollouts", on_delete="RESTRICT")
    config = peewee.TextField(null=True)  # JSON: {"label": ..., "settings": {...}}
    target = peewee.TextField()  # JSON: {"kind": "all" | "buildings" | "percent" | "stations", ...}
    success_pct = peewee.FloatField()
    abort_pct = peewee.FloatField()
    min_executed = peewee.IntegerField(default=1)
    deadline = peewee.DateTimeField()
    health_timeout_s = peewee.FloatField(default=180.0)
    state = peewee.CharField(max_length=16, default="running", index=True)
    reason = peewee.CharField(max_length=200, null=True)
    created_at = peewee.DateTimeField(default=utc_now)
    created_by = peewee.CharField(max_length=64)
    finished_at = peewee.DateTimeField(null=True)


class RolloutWave(BaseModel):
    """One wave of a rollout: started when the one before it met its success threshold."""

    id = peewee.AutoField()
    rollout = peewee.ForeignKeyField(Rollout, backref="waves", on_delete="CASCADE")
    number = peewee.IntegerField()  # 1, 2, ...
    state = peewee.CharField(max_length=16, default="pending")
    started_at = peewee.DateTimeField(null=True)
    finished_at = peewee.DateTimeField(null=True)

    class Meta:
        indexes = ((("rollout", "number"), True),)


class RolloutJob(BaseModel):
    """The job of one station in one rollout, and the rollback job if its wave aborted."""

    job_id = peewee.CharField(primary_key=True, max_length=36)
    rollout = peewee.ForeignKeyField(Rollout, backref="jobs", on_delete="CASCADE")
    wave = peewee.ForeignKeyField(RolloutWave, backref="jobs", on_delete="CASCADE")
    station_id = peewee.CharField(max_length=32, index=True)
    state = peewee.CharField(max_length=16, default="pending", index=True)
    reason = peewee.CharField(max_length=200, null=True)
    version = peewee.CharField(max_length=64, null=True)  # what the station last said it runs
    sent_at = peewee.DateTimeField(null=True)
    times_sent = peewee.IntegerField(default=0)
    updated_at = peewee.DateTimeField(null=True)
    bytes_served = peewee.BigIntegerField(default=0)
    rollback_job_id = peewee.CharField(max_length=36, null=True, unique=True)
    rollback_state = peewee.CharField(max_length=16, null=True)

    class Meta:
        indexes = ((("rollout", "station_id"), True),)


MODELS = [Release, ReleaseFile, Rollout, RolloutWave, RolloutJob]
