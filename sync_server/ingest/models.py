"""The ingest worker's tables: what was applied (exactly once) and what was refused."""

from __future__ import annotations

import peewee

from sync_server.db import BaseModel, utc_now


class AppliedTransaction(BaseModel):
    """A transaction id applied once; its primary key is the exactly-once guarantee."""

    tx_id = peewee.CharField(primary_key=True, max_length=36)
    station_id = peewee.CharField(max_length=32, index=True)
    seq = peewee.BigIntegerField()
    kind = peewee.CharField(max_length=48)
    station_time = peewee.DateTimeField()  # as the station said; never used for ordering
    received_at = peewee.DateTimeField(index=True)


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


MODELS = [AppliedTransaction, RejectedMessage]
