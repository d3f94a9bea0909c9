"""Heartbeats and presence stored in batches: one commit and a few multi-row upserts for
everything the ingest received since its last commit.

A fleet of thousands beats every 30 s; one commit per heartbeat spent the ingest's time on
commits (0.48 of a bare subscriber's rate, ``bench/heartbeats.py``). Within a batch only the
last heartbeat of a station counts for its row, and the last of each five-minute slot for the
history (:mod:`sync_server.fleet.history`), exactly as one commit per heartbeat would leave them.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import peewee
from peewee import EXCLUDED

from contract import Heartbeat
from sync_server.db import write_transaction
from sync_server.fleet import history
from sync_server.fleet.models import Station

#: Rows per statement: well under SQLite's 32,766 bound variables at 9 columns a row.
_CHUNK = 500


@dataclass(frozen=True)
class ReceivedBeat:
    """A heartbeat that passed the contract checks, and when the server received it."""

    station_id: str
    beat: Heartbeat
    received_at: datetime


_BEAT_COLUMNS = (
    "last_seen_at",
    "last_heartbeat_at",
    "backlog",
    "oldest_undelivered_age_s",
    "rejected",
    "software_version",
    "metrics",
)


def store_heartbeats(db: peewee.Database, beats: Sequence[ReceivedBeat]) -> int:
    """Record ``beats`` (in arrival order) in one commit; returns the station rows written."""
    if not beats:
        return 0
    latest: dict[str, ReceivedBeat] = {}
    per_slot: dict[tuple[str, datetime], ReceivedBeat] = {}
    for received in beats:
        latest[received.station_id] = received
        per_slot[(received.station_id, history.bucket_of(received.received_at))] = received
    # Station-id order: two workers locking rows in different orders would deadlock.
    rows = [_station_row(latest[station_id]) for station_id in sorted(latest)]
    with write_transaction(db):
        for start in range(0, len(rows), _CHUNK):
            Station.insert_many(rows[start : start + _CHUNK]).on_conflict(
                conflict_target=[Station.station_id],
                update={getattr(Station, name): getattr(EXCLUDED, name) for name in _BEAT_COLUMNS},
            ).execute()
        history.record_many(
            [(r.station_id, r.beat, r.received_at) for _, r in sorted(per_slot.items())],
            chunk=_CHUNK,
        )
    return len(rows)


def _station_row(received: ReceivedBeat) -> dict[str, object]:
    beat = received.beat
    return {
        "station_id": received.station_id,
        "first_seen_at": received.received_at,
        "last_seen_at": received.received_at,
        "last_heartbeat_at": received.received_at,
        "backlog": beat.backlog,
        "oldest_undelivered_age_s": beat.oldest_undelivered_age_s,
        "rejected": beat.rejected,
        "software_version": beat.software_version,
        "metrics": json.dumps(beat.metrics, sort_keys=True),
    }


@dataclass(frozen=True)
class ReceivedPresence:
    """A presence message that passed the contract checks, and when it was received."""

    station_id: str
    state: str
    software_version: str | None
    received_at: datetime


_PRESENCE_COLUMNS = ("last_seen_at", "presence", "presence_at", "software_version")


def store_presences(db: peewee.Database, presences: Sequence[ReceivedPresence]) -> int:
    """Record each station's latest presence among ``presences`` (in arrival order) in one
    commit; returns the station rows written. A fleet returning after an outage sends one
    each (to every ingest worker: presence is not a shared subscription), and one commit
    each was a quarter of the ingest's time (bench/city.py)."""
    latest = {presence.station_id: presence for presence in presences}
    rows = [
        {
            "station_id": station_id,
            "first_seen_at": latest[station_id].received_at,
            "last_seen_at": latest[station_id].received_at,
            "presence": latest[station_id].state,
            "presence_at": latest[station_id].received_at,
            "software_version": latest[station_id].software_version,
        }
        for station_id in sorted(latest)  # lock order, as store_heartbeats
    ]
    if not rows:
        return 0
    with write_transaction(db):
        for start in range(0, len(rows), _CHUNK):
            Station.insert_many(rows[start : start + _CHUNK]).on_conflict(
                conflict_target=[Station.station_id],
                update={
                    getattr(Station, name): getattr(EXCLUDED, name) for name in _PRESENCE_COLUMNS
                },
            ).execute()
    return len(rows)
