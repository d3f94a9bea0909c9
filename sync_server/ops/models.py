"""The workers' own heartbeats: each long-running worker writes its row every few seconds,
and readiness (``/readyz``) fails naming the worker whose row has gone stale."""

from __future__ import annotations

import peewee

from sync_server.db import BaseModel, utc_now


class WorkerHeartbeat(BaseModel):
    """The last sign of life of one worker process (``ingest:1``, ``alarms``, ``sms``...)."""

    worker = peewee.CharField(primary_key=True, max_length=64)
    kind = peewee.CharField(max_length=32, index=True)
    beat_at = peewee.DateTimeField(default=utc_now)
    started_at = peewee.DateTimeField(default=utc_now)
    host = peewee.CharField(max_length=64)
    pid = peewee.IntegerField()


MODELS = [WorkerHeartbeat]
