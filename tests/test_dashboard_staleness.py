"""A broker outage seen by operations: stale stations, the server's own probe of the broker.

A station's last will cannot fire while the broker is down or frozen, so the server judges
staleness itself (injected clocks here, no waiting) and probes the broker every round.
"""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta

import pytest

from contract.transport import BrokerSettings
from sync_server import create_app
from sync_server.dashboard import alarms, broker, fleet
from sync_server.dashboard.views import STREAM_STATIONS
from sync_server.dashboard.worker import AlarmWorker
from sync_server.db import database
from tests.operator_fixtures import create_test_operator, log_in
from tests.test_dashboard import NOW, put_station


@pytest.fixture
def app(database_url: str):
    app = create_app(
        {
            "TESTING": True,
            "SECRET_KEY": "dashboard-test-secret-0123456789abcdef",
            "DATABASE_URL": database_url,
        }
    )
    yield app
    database.close()


#: A station beating every 30 s is stale after three missed beats.
LIMITS = alarms.thresholds({"STATION_HEARTBEAT_INTERVAL_S": 30, "ALARM_STALE_HEARTBEATS": 3})


def test_a_station_whose_heartbeats_stopped_is_stale_and_raises_the_offline_alarm(app):
    put_station("st-frozen", presence="online", last_heartbeat_at=NOW)
    with database.connection_context():
        assert alarms.evaluate(NOW + timedelta(seconds=89), LIMITS)["raised"] == []
        row = fleet.station("st-frozen")
        assert not alarms.is_stale(row, NOW + timedelta(seconds=89), LIMITS)

        # The broker froze for 3.5 minutes: no will, the row still says "online".
        later = NOW + timedelta(minutes=3, seconds=30)
        assert alarms.evaluate(later, LIMITS)["raised"] == [("st-frozen", "offline")]
        [marked] = alarms.mark_stale([row], later, LIMITS)
        assert marked.stale and marked.shown_presence == "offline"
        assert marked.as_event()["presence"] == "offline" and marked.as_event()["stale"]
        assert "stale" in alarms.open_alarms("st-frozen")[0].message
        assert fleet.counts(stale_before=later - alarms.stale_after(LIMITS)) == {
            "online": 0,
            "offline": 1,
        }
        # The presence filter goes by what the page shows.
        stale_before = later - alarms.stale_after(LIMITS)
        offline, _ = fleet.stations(presence="offline", stale_before=stale_before)
        online, _ = fleet.stations(presence="online", stale_before=stale_before)
        assert ([r.station_id for r in offline], online) == (["st-frozen"], [])

    put_station("st-frozen", last_heartbeat_at=later)  # the broker is back, beats arrive
    with database.connection_context():
        assert alarms.evaluate(later, LIMITS)["cleared"] == [("st-frozen", "offline")]


def test_the_staleness_limit_follows_the_configured_heartbeat_interval():
    limits = alarms.thresholds({"STATION_HEARTBEAT_INTERVAL_S": 10, "ALARM_STALE_HEARTBEATS": 4})
    assert alarms.stale_after(limits) == timedelta(seconds=40)
    assert alarms.stale_after(alarms.thresholds()) == timedelta(seconds=90)


def test_the_worker_records_when_the_broker_stops_and_starts_answering(app):
    answers = [False, False, True]
    clock = iter([NOW, NOW + timedelta(seconds=15), NOW + timedelta(seconds=30)])
    worker = AlarmWorker(
        database.obj, {}, clock=lambda: next(clock), broker_probe=lambda: answers.pop(0)
    )
    assert worker.run_once()["raised"] == [(broker.SUBJECT, broker.RULE)]
    assert worker.run_once() == {"raised": [], "cleared": []}
    with database.connection_context():
        assert broker.unreachable_since() == NOW
    assert worker.run_once()["cleared"] == [(broker.SUBJECT, broker.RULE)]
    with database.connection_context():
        assert broker.unreachable_since() is None


@contextmanager
def listening(answer: bytes | None) -> Iterator[int]:
    """A port that accepts connections and answers ``answer``, or never (a frozen broker)."""
    server = socket.create_server(("127.0.0.1", 0))
    accepted: list[socket.socket] = []

    def serve() -> None:
        connection, _ = server.accept()
        accepted.append(connection)
        connection.recv(1024)
        if answer is not None:
            connection.sendall(answer)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield server.getsockname()[1]
    finally:
        thread.join(5)
        for connection in accepted:
            connection.close()
        server.close()


def test_the_probe_needs_an_answer_not_only_a_tcp_connection():
    with listening(b"\x20\x03\x00\x00\x00") as port:  # CONNACK
        assert broker.probe(BrokerSettings(port=port, username="u", password="p"), 2.0)
    with listening(None) as port:  # the kernel accepts; the frozen broker never answers
        assert not broker.probe(BrokerSettings(port=port), 0.3)
    with socket.create_server(("127.0.0.1", 0)) as closed:
        port = closed.getsockname()[1]
    assert not broker.probe(BrokerSettings(port=port), 0.3)  # refused


def test_the_fleet_page_says_since_when_the_broker_is_unreachable(app):
    put_station("st-a", presence="online")
    with database.connection_context():
        broker.record(False, NOW)
    client = app.test_client()
    log_in(client, *create_test_operator("operations"))
    html = client.get("/dashboard/?lang=en").get_data(as_text=True)
    assert 'id="broker-state"' in html and "24 Nov 2569 BE, 19:00" in html  # Bangkok time
    assert 'class="live-state down"' in html
    assert 'data-stale="1"' in html  # NOW lies in the past: st-a's heartbeat is stale


def test_the_server_link_is_stale_only_when_every_online_station_is(app):
    """Asked of the database in two lookups (the fleet page asks on every render)."""
    stale_before = NOW - alarms.stale_after(LIMITS)
    with database.connection_context():
        assert not fleet.all_online_stale(stale_before)  # no station at all
    put_station("st-off", presence="offline", last_heartbeat_at=NOW - timedelta(hours=2))
    put_station("st-old", last_heartbeat_at=NOW - timedelta(minutes=5))
    with database.connection_context():
        assert fleet.all_online_stale(stale_before)  # the offline one does not count
    put_station("st-new", last_heartbeat_at=None, presence_at=None)  # never heard: not stale
    with database.connection_context():
        assert not fleet.all_online_stale(stale_before)
    put_station("st-new", last_heartbeat_at=None, presence_at=NOW - timedelta(minutes=5))
    with database.connection_context():
        assert fleet.all_online_stale(stale_before)  # came online, then silence
    put_station("st-beating", last_heartbeat_at=NOW - timedelta(seconds=10))
    with database.connection_context():
        assert not fleet.all_online_stale(stale_before)


def _stream_events(client, path: str) -> list[tuple[str, dict]]:
    answer = client.get(path)
    assert answer.mimetype == "text/event-stream"
    events = []
    for block in answer.get_data(as_text=True).split("\n\n"):
        lines = dict(line.split(": ", 1) for line in block.splitlines() if ": " in line)
        if "event" in lines:
            events.append((lines["event"], json.loads(lines["data"])))
    return events


def test_the_event_stream_follows_only_the_stations_the_page_shows(app):
    app.config.update(DASHBOARD_STREAM_S=0.05, DASHBOARD_POLL_S=0.01)
    for index in range(5):
        put_station(f"st-{index}")
    client = app.test_client()
    log_in(client, *create_test_operator("operations"))

    fleet_page = _stream_events(client, "/dashboard/events?stations=st-1,st-3,st-nobody")
    shown = {data["station_id"] for kind, data in fleet_page if kind == "station"}
    assert shown == {"st-1", "st-3"}
    assert {kind for kind, _ in fleet_page} == {"station", "server", "alarms"}

    one = _stream_events(client, "/dashboard/events?station=st-4&stations=st-1")
    assert {data["station_id"] for kind, data in one if kind == "station"} == {"st-4"}

    alarms_page = _stream_events(client, "/dashboard/events")
    assert [kind for kind, _ in alarms_page if kind == "station"] == []
    assert {kind for kind, _ in alarms_page} == {"server", "alarms"}

    for index in range(STREAM_STATIONS + 10):
        put_station(f"st-many-{index:03d}")
    many = ",".join(f"st-many-{index:03d}" for index in range(STREAM_STATIONS + 10))
    capped = _stream_events(client, "/dashboard/events?stations=" + many)
    followed = {data["station_id"] for kind, data in capped if kind == "station"}
    assert len(followed) == STREAM_STATIONS  # a forged URL cannot ask for the whole fleet


def test_the_fleet_page_asks_the_stream_for_its_own_rows(app):
    for index in range(3):
        put_station(f"st-{index}")
    client = app.test_client()
    log_in(client, *create_test_operator("operations"))
    html = client.get("/dashboard/?lang=en").get_data(as_text=True)
    assert "/dashboard/events?stations=st-0,st-1,st-2" in html
    html = client.get("/dashboard/?lang=en&q=st-2").get_data(as_text=True)
    assert "/dashboard/events?stations=st-2" in html
