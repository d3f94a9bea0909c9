"""Exactly-once ingest on both databases: SQLite and a real PostgreSQL server."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from contract import Heartbeat, Transaction
from device.store.ids import new_tx_id, petition_number
from devtools.seed import seed_records
from devtools.synthetic import residents
from sync_server import create_app
from sync_server.db import database
from sync_server.fleet.models import HeartbeatSample, Station
from sync_server.ingest.apply import Received, apply_batch
from sync_server.ingest.heartbeats import (
    ReceivedBeat,
    ReceivedPresence,
    store_heartbeats,
    store_presences,
)
from sync_server.ingest.models import AppliedTransaction
from sync_server.petitions.models import Petition
from tests.conftest import server_config
from tests.helpers import wait_until


@pytest.fixture
def app(database_url, broker):
    app = create_app(server_config(database_url, broker))
    yield app
    database.close()


def received(serial: int, station_id: str = "st-a", tx_id: str | None = None) -> Received:
    tx = Transaction(
        tx_id=tx_id or new_tx_id(),
        station_id=station_id,
        seq=serial,
        kind="petition.filed",
        station_time=datetime(2020, 1, 1, tzinfo=UTC),  # a station clock far in the past
        body={
            "number": petition_number(station_id, serial),
            "service": "general_petition",
            "phone": "0812345678",
        },
    )
    return Received(tx=tx, received_at=datetime.now(UTC))


def test_batch_applies_each_id_once_even_within_one_batch(app):
    first = received(1)
    again = received(1, tx_id=first.tx.tx_id)
    acks, rejected = apply_batch(database.obj, [first, received(2), again])
    assert [i.outcome for i in acks["st-a"]] == ["applied", "applied", "duplicate"]
    assert rejected == []
    acks, _ = apply_batch(database.obj, [first])
    assert [i.outcome for i in acks["st-a"]] == ["duplicate"]
    assert Petition.select().count() == 2
    assert Station.get_by_id("st-a").transactions_applied == 2


def test_a_rejected_transaction_leaves_no_trace_but_the_rest_of_the_batch_applies(app):
    good = received(1)
    taken = received(1)  # same petition number, another tx id
    acks, rejected = apply_batch(database.obj, [good, taken, received(2)])
    assert [i.outcome for i in acks["st-a"]] == ["applied", "rejected", "applied"]
    assert [reason for _, reason in rejected] == [
        f"petition number {petition_number('st-a', 1)} is already taken"
    ]
    assert AppliedTransaction.get_or_none(AppliedTransaction.tx_id == taken.tx.tx_id) is None
    assert Petition.select().count() == 2


def test_server_keeps_its_own_receive_time(app):
    item = received(1)
    apply_batch(database.obj, [item])
    row = AppliedTransaction.get_by_id(item.tx.tx_id)
    assert row.station_time.year == 2020
    assert row.received_at.year >= 2026


def test_two_ingest_workers_side_by_side_apply_everything_once(
    app, ingest_factory, station_factory
):
    workers = [ingest_factory(app, "1"), ingest_factory(app, "2")]
    stations = [station_factory("st-a"), station_factory("st-b"), station_factory("st-c")]
    numbers = set()
    for station in stations:
        for _ in range(200):
            numbers.add(station.file_petition("general_petition", "0812345678", {}))
    wait_until(
        lambda: all(s.store.outbox.backlog().pending == 0 for s in stations),
        "all outboxes to drain",
    )
    assert {p.number for p in Petition.select()} == numbers
    assert AppliedTransaction.select().count() == 600
    assert sum(w.applied for w in workers) == 600
    assert all(w.applied > 0 for w in workers)  # the shared subscription spread the load


def test_live_lookup_on_this_database(app, ingest_factory, station_factory):
    seed_records(3)
    ingest_factory(app)
    station = station_factory()
    wait_until(lambda: station.sync.link.connected, "the station")
    person = next(residents(1))
    assert (
        station.sync.lookups.insured_summary(person.citizen_id).record.full_name_th
        == person.full_name_th
    )


def beat(station_id: str, backlog: int, version: str = "0.1.0") -> Heartbeat:
    return Heartbeat(
        station_id=station_id,
        station_time=datetime.now(UTC),
        uptime_s=10.0,
        backlog=backlog,
        oldest_undelivered_age_s=None,
        rejected=0,
        software_version=version,
        metrics={"disk_free_pct": 50.0 + backlog},
    )


def test_heartbeats_stored_in_one_batch_leave_what_one_commit_each_would(app):
    slot = datetime(2026, 12, 6, 10, 0, tzinfo=UTC)
    beats = [
        ReceivedBeat("st-a", beat("st-a", 1), slot + timedelta(seconds=10)),
        ReceivedBeat("st-b", beat("st-b", 7), slot + timedelta(seconds=11)),
        ReceivedBeat("st-a", beat("st-a", 2), slot + timedelta(seconds=40)),
        # The next five-minute slot: a second history row for st-a.
        ReceivedBeat("st-a", beat("st-a", 3, "0.2.0"), slot + timedelta(seconds=310)),
    ]
    assert store_heartbeats(database.obj, beats) == 2
    a, b = Station.get_by_id("st-a"), Station.get_by_id("st-b")
    assert (a.backlog, a.software_version, b.backlog) == (3, "0.2.0", 7)
    # Stored as naive UTC on both databases.
    assert a.last_heartbeat_at.replace(tzinfo=UTC) == slot + timedelta(seconds=310)
    assert json.loads(a.metrics) == {"disk_free_pct": 53.0}
    samples = HeartbeatSample.select().order_by(
        HeartbeatSample.station_id, HeartbeatSample.bucket_at
    )
    assert [(s.station_id, s.backlog) for s in samples] == [("st-a", 2), ("st-a", 3), ("st-b", 7)]

    # A later batch updates the rows in place; first_seen_at stays the first.
    first_seen = a.first_seen_at
    store_heartbeats(
        database.obj, [ReceivedBeat("st-a", beat("st-a", 0), slot + timedelta(seconds=320))]
    )
    a = Station.get_by_id("st-a")
    assert (a.backlog, a.first_seen_at) == (0, first_seen)
    assert HeartbeatSample.select().count() == 3


def test_presence_stored_in_one_batch_keeps_each_stations_last_word(app):
    at = datetime(2026, 12, 6, 10, 0, tzinfo=UTC)
    store_heartbeats(database.obj, [ReceivedBeat("st-a", beat("st-a", 4), at)])
    written = store_presences(
        database.obj,
        [
            ReceivedPresence("st-a", "online", "0.1.0", at + timedelta(seconds=1)),
            ReceivedPresence("st-b", "online", None, at + timedelta(seconds=2)),
            ReceivedPresence("st-a", "offline", "0.1.0", at + timedelta(seconds=3)),
        ],
    )
    assert written == 2
    a, b = Station.get_by_id("st-a"), Station.get_by_id("st-b")
    assert (a.presence, b.presence) == ("offline", "online")
    assert a.presence_at.replace(tzinfo=UTC) == at + timedelta(seconds=3)
    assert a.backlog == 4  # the heartbeat's figures stay
    assert b.first_seen_at.replace(tzinfo=UTC) == at + timedelta(seconds=2)
