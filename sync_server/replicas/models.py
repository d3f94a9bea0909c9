"""The replicas' table: each station enrolled for the replica of one building."""

from __future__ import annotations

import peewee

from sync_server.db import BaseModel, utc_now


class StationReplica(BaseModel):
    """A station enrolled for a replica: its scope, its public key, how far it has got.

    ``sent_cursor`` is the change id the server last sent up to; ``station_cursor`` the one
    the station last said it holds. ``suspended`` is set by a wipe and cleared by a refresh.
    """

    station_id = peewee.CharField(primary_key=True, max_length=32)
    building = peewee.CharField(max_length=64, index=True)
    public_key = peewee.BlobField()  # raw X25519, 32 bytes
    enrolled_at = peewee.DateTimeField(default=utc_now)
    suspended = peewee.BooleanField(default=False)
    sent_cursor = peewee.BigIntegerField(null=True)
    station_cursor = peewee.BigIntegerField(null=True)
    last_request_at = peewee.DateTimeField(null=True)
    last_sent_at = peewee.DateTimeField(null=True)
    last_full_at = peewee.DateTimeField(null=True)
    residents_sent = peewee.IntegerField(default=0)
    last_refusal = peewee.CharField(max_length=200, null=True)


MODELS = [StationReplica]
