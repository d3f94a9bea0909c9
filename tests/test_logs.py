"""Structured logs: every line a JSON object, stdlib ``log.info`` calls included, and no
personal data in them (known fields dropped, ids and numbers masked in any text)."""

from __future__ import annotations

import io
import json
import logging
from datetime import UTC, datetime, timedelta

import pytest
import structlog

from contract.identifiers import is_valid_citizen_id
from contract.logs import REDACTED, scrub
from device import logs as station_logs
from sync_server import create_app
from sync_server import logs as server_logs
from sync_server.dashboard.worker import AlarmWorker
from sync_server.db import database
from sync_server.fleet.models import Station

CITIZEN_ID = "1101700203450"  # synthetic, with a valid check digit
PHONE = "0812345678"


@pytest.fixture
def restore_logging():
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    for handler in list(root.handlers):
        root.removeHandler(handler)
    for handler in handlers:
        root.addHandler(handler)
    root.setLevel(level)
    structlog.reset_defaults()


def lines(stream: io.StringIO) -> list[dict]:
    """Every line parsed as JSON (a line that is not JSON fails the test)."""
    return [json.loads(line) for line in stream.getvalue().splitlines()]


@pytest.mark.parametrize("side", [server_logs, station_logs], ids=["server", "station"])
def test_stdlib_and_structlog_calls_become_json_without_personal_data(side, restore_logging):
    assert is_valid_citizen_id(CITIZEN_ID)
    stream = io.StringIO()
    side.setup(logging.INFO, stream=stream)
    legacy = logging.getLogger("sync_server.example")
    legacy.info("looked up %s from %s", CITIZEN_ID, "st-a")
    legacy.warning("sms to %s failed", "081-234-5678")
    structlog.get_logger("device.example").info(
        "petition filed",
        station_id="st-a",
        citizen_id=CITIZEN_ID,
        phone=PHONE,
        form={"subject": "lift", "name": "Somchai"},
        figures={"backlog": 3, "Phone": PHONE},
    )
    try:
        raise ValueError(f"bad card {CITIZEN_ID}")
    except ValueError:
        legacy.exception("card read failed")
    found = lines(stream)
    assert len(found) == 4
    first, second, third, fourth = found
    assert first["event"] == f"looked up {REDACTED} from st-a"
    assert first["level"] == "info" and first["logger"] == "sync_server.example"
    assert first["service"] == side.SERVICE
    assert datetime.fromisoformat(first["timestamp"]).tzinfo is not None
    assert second["event"] == f"sms to {REDACTED} failed" and second["level"] == "warning"
    assert third["event"] == "petition filed" and third["station_id"] == "st-a"
    assert "citizen_id" not in third and "phone" not in third and "form" not in third
    assert third["figures"] == {"backlog": 3}
    assert "ValueError" in fourth["exception"]
    text = stream.getvalue()
    for personal in (CITIZEN_ID, PHONE, "081-234-5678", "Somchai"):
        assert personal not in text


def test_scrub_leaves_our_own_identifiers_alone():
    kept = "P-2026-0000123 tx 0b7c2f9e-1d2a-4c8b-9e3f-5a6b7c8d9e0f at 2026-11-24T12:00:00+00:00"
    assert scrub(kept) == kept
    assert scrub("id 1-1017-00203-45-0.") == f"id {REDACTED}."


def test_the_alarm_worker_logs_json_lines(database_url, restore_logging):
    app = create_app(
        {"TESTING": True, "SECRET_KEY": "logs-test-secret-0123456789", "DATABASE_URL": database_url}
    )
    now = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)
    with database.connection_context():
        Station.create(
            station_id="st-a",
            presence="offline",
            presence_at=now - timedelta(hours=1),
            metrics=json.dumps({"printer_state": 2}),
        )
    stream = io.StringIO()
    server_logs.setup(logging.INFO, stream=stream)
    AlarmWorker(database.obj, app.config, clock=lambda: now).run_once()
    database.close()
    events = {line["event"] for line in lines(stream)}
    assert {"alarm raised: offline on st-a", "alarm raised: paper_out on st-a"} <= events
