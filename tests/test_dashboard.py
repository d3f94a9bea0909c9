"""Dashboard services and pages: alarm rules, commands with results and expiry, charts."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta

import pytest

from contract import CommandResult
from sync_server import create_app
from sync_server.dashboard import alarms, charts, commands, fleet
from sync_server.dashboard.models import Alarm, CommandRecord
from sync_server.db import database, utc_now
from sync_server.fleet.models import Station
from sync_server.ingest.models import AppliedTransaction
from tests.helpers import wait_until
from tests.operator_fixtures import create_test_operator, csrf_token, log_in

NOW = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)
LIMITS = alarms.thresholds(
    {"ALARM_OFFLINE_AFTER_S": 600, "ALARM_BACKLOG": 100, "ALARM_DISK_FREE_PCT": 10}
)


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


def put_station(station_id: str, **fields: object) -> None:
    metrics = fields.pop("metrics", {})
    defaults = {
        "presence": "online",
        "presence_at": NOW - timedelta(hours=1),
        "last_heartbeat_at": NOW - timedelta(seconds=20),
        "backlog": 0,
        "metrics": json.dumps(metrics),
    }
    defaults.update(fields)
    with database.connection_context():
        Station.insert(station_id=station_id, **defaults).on_conflict(
            conflict_target=[Station.station_id],
            update={getattr(Station, k): v for k, v in defaults.items()},
        ).execute()


def open_rules() -> set[tuple[str, str]]:
    with database.connection_context():
        return {(a.station_id, a.rule) for a in alarms.open_alarms()}


def test_rules_raise_once_and_clear_when_the_condition_ends(app):
    put_station("st-ok", metrics={"printer_state": 0, "tamper_open": 0, "disk_free_pct": 80})
    put_station("st-gone", presence="offline", presence_at=NOW - timedelta(minutes=11))
    put_station("st-new-off", presence="offline", presence_at=NOW - timedelta(minutes=2))
    put_station("st-paper", metrics={"printer_state": 2})
    put_station("st-box", metrics={"tamper_open": 1})
    put_station("st-queue", backlog=150)
    put_station("st-disk", metrics={"disk_free_pct": 4.5})
    put_station("st-silent", last_heartbeat_at=NOW - timedelta(hours=1))
    with database.connection_context():
        first = alarms.evaluate(NOW, LIMITS)
        again = alarms.evaluate(NOW + timedelta(seconds=30), LIMITS)
    assert sorted(first["raised"]) == [
        ("st-box", "tamper"),
        ("st-disk", "disk"),
        ("st-gone", "offline"),
        ("st-paper", "paper_out"),
        ("st-queue", "backlog"),
        ("st-silent", "offline"),
    ]
    assert again == {"raised": [], "cleared": []}  # one open alarm per station and rule

    put_station("st-paper", metrics={"printer_state": 0})  # paper refilled
    put_station("st-gone", presence="online", presence_at=NOW)
    with database.connection_context():
        changes = alarms.evaluate(NOW + timedelta(minutes=1), LIMITS)
        assert sorted(changes["cleared"]) == [("st-gone", "offline"), ("st-paper", "paper_out")]
        cleared = Alarm.get((Alarm.station_id == "st-paper") & (Alarm.rule == "paper_out"))
        assert cleared.cleared_by == "rule"
        assert {a.station_id for a in alarms.history()} == {"st-gone", "st-paper"}
    assert ("st-new-off", "offline") not in open_rules()  # offline for only two minutes


def test_acknowledge_keeps_the_alarm_open_and_clear_closes_it(app):
    put_station("st-box", metrics={"tamper_open": 1})
    with database.connection_context():
        alarms.evaluate(NOW, LIMITS)
        alarm = Alarm.get()
        alarms.acknowledge(alarm.id, "ops1")
        assert alarms.open_alarms()[0].acknowledged_by == "ops1"
        alarms.clear(alarm.id, "ops1")
        assert alarms.open_alarms() == []
        # The enclosure is still open: the rule raises it again.
        assert alarms.evaluate(NOW + timedelta(minutes=1), LIMITS)["raised"] == [
            ("st-box", "tamper")
        ]


def test_fleet_rows_decode_the_gauges(app):
    put_station(
        "st-a",
        metrics={"printer_state": 1, "tamper_open": 0, "watchdog_resets": 2, "disk_free_pct": 55},
        backlog=7,
        oldest_undelivered_age_s=42.0,
    )
    with database.connection_context():
        row = fleet.station("st-a")
        rows, total = fleet.stations(presence="online")
    assert (row.paper, row.tamper_open, row.watchdog_resets, row.disk_free_pct) == (
        "paper-low",
        False,
        2,
        55,
    )
    assert total == 1 and rows[0].backlog == 7
    assert row.as_event()["oldest_undelivered_age_s"] == 42.0


def test_charts_count_transactions_and_lag_per_hour(app):
    now = utc_now()
    hour = now.replace(minute=0, second=0, microsecond=0)
    with database.connection_context():
        for index in range(5):
            AppliedTransaction.create(
                tx_id=f"00000000-0000-7000-8000-00000000000{index}",
                station_id="st-a" if index < 3 else "st-b",
                seq=index,
                kind="petition.filed",
                station_time=hour + timedelta(minutes=index) - timedelta(seconds=10),
                received_at=hour + timedelta(minutes=index),
            )
        fleet_points = charts.hourly(now=now)
        station_points = charts.hourly("st-a", now=now)
    assert len(fleet_points) == 24 and fleet_points[-1].hour == hour
    assert fleet_points[-1].transactions == 5 and sum(p.transactions for p in fleet_points) == 5
    assert station_points[-1].transactions == 3
    assert station_points[-1].mean_lag_s == pytest.approx(10.0, abs=0.01)
    svg = charts.bar_chart(fleet_points, "transactions", title="tx <per> hour", unit="tx")
    assert svg.startswith("<svg") and "tx &lt;per&gt; hour" in svg and svg.count("<rect") == 24


def test_pages_are_for_operations_and_administrators(app):
    put_station("st-a", metrics={"printer_state": 2})
    with database.connection_context():
        alarms.evaluate(NOW, LIMITS)
    officer, password = create_test_operator("officer")
    assert log_in(app.test_client(), officer, password).get("/dashboard/").status_code == 403
    ops, ops_password = create_test_operator("operations")
    client = log_in(app.test_client(), ops, ops_password)
    fleet_page = client.get("/dashboard/")
    assert fleet_page.status_code == 200 and 'data-station="st-a"' in fleet_page.text
    station_page = client.get("/dashboard/stations/st-a")
    assert "paper-out" in station_page.text and "<svg" in station_page.text
    assert client.get("/dashboard/stations/st-nope").status_code == 404
    alarms_page = client.get("/dashboard/alarms")
    assert "paper_out" in alarms_page.text
    with database.connection_context():
        alarm_id = Alarm.get().id
    answer = client.post(
        f"/dashboard/alarms/{alarm_id}/ack", data={"csrf_token": csrf_token(alarms_page.text)}
    )
    assert answer.status_code == 303
    with database.connection_context():
        assert Alarm.get_by_id(alarm_id).acknowledged_by == ops


def test_command_round_trip_with_a_running_station(server_app, ingest, station_factory):
    station = station_factory()
    wait_until(lambda: Station.get_or_none(Station.station_id == "st-a"), "the station")
    with server_app.app_context():
        ping = commands.issue("st-a", "ping", actor="ops1", ttl=timedelta(minutes=5))
        lock = commands.issue("st-a", "lock", actor="ops1", ttl=timedelta(minutes=5))
    assert ping.status == "pending"
    wait_until(lambda: CommandRecord.get_by_id(lock.command_id).status == "done", "the lock result")
    assert CommandRecord.get_by_id(ping.command_id).detail == "pong"
    assert station.service_lock.locked
    with server_app.app_context():
        unlock = commands.issue("st-a", "unlock", actor="ops1", ttl=timedelta(minutes=5))
    wait_until(lambda: CommandRecord.get_by_id(unlock.command_id).status == "done", "unlock")
    assert not station.service_lock.locked


def test_replica_commands_need_an_enrolled_station(server_app):
    with server_app.app_context(), pytest.raises(commands.CommandError, match="not enrolled"):
        commands.issue("st-a", "wipe_replica", actor="ops1", ttl=timedelta(hours=1))


def test_a_command_to_an_offline_station_expires(server_app, broker):
    with server_app.app_context():
        record = commands.issue("st-away", "print_test_page", actor="ops1", ttl=timedelta(1))
    with database.connection_context():
        assert commands.expire(utc_now()) == 0
        assert commands.expire(utc_now() + timedelta(days=1, seconds=1)) == 1
        assert CommandRecord.get_by_id(record.command_id).status == "expired"
        late = CommandResult(
            command_id=record.command_id,
            station_id="st-away",
            status="done",
            detail="late",
            station_time=utc_now(),
        )
        assert commands.settle(late, utc_now())  # a late answer still says what happened
        forged = CommandResult(
            command_id=record.command_id,
            station_id="st-other",
            status="done",
            station_time=utc_now(),
        )
        assert not commands.settle(forged, utc_now())


def test_the_lag_chart_axis_reads_a_sub_second_top_not_zero_twice():
    hours = [NOW - timedelta(hours=h) for h in (2, 1)]
    points = [charts.HourlyPoint(hours[0], 3, 0.4), charts.HourlyPoint(hours[1], 1, 0.1)]
    svg = str(charts.bar_chart(points, "mean_lag_s", title="lag", unit="s"))
    assert re.findall(r'class="axis">([^<]*)<', svg) == ["0.5 s", "0.25", "0"]
    assert charts.axis_top(0) == 1 and charts.axis_top(1234) == 2000 and charts.axis_top(5) == 5
    assert charts.axis_label(1000) == "1,000" and charts.axis_label(2.5) == "2.5"
