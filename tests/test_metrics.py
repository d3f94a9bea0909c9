"""``/metrics``: token-protected, parses as Prometheus text, figures read from the database."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from prometheus_client.parser import text_string_to_metric_families

from sync_server import create_app
from sync_server.dashboard import alarms
from sync_server.db import database
from sync_server.fleet.models import Station
from sync_server.ingest.apply import apply_batch
from sync_server.ingest.models import RejectedMessage
from sync_server.petitions.service import change_status
from tests.api_tokens import bearer
from tests.helpers import wait_until
from tests.test_ingest_databases import received


@pytest.fixture
def app(database_url):
    app = create_app({"TESTING": True, "SECRET_KEY": "metrics", "DATABASE_URL": database_url})
    yield app
    database.close()


def scrape(app) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of one scrape, parsed by prometheus_client's own parser."""
    response = app.test_client().get("/metrics", headers=bearer("metrics:read"))
    assert response.status_code == 200
    assert response.mimetype == "text/plain"
    samples = {}
    for family in text_string_to_metric_families(response.get_data(as_text=True)):
        for sample in family.samples:
            samples[sample.name, tuple(sorted(sample.labels.items()))] = sample.value
    return samples


def test_the_exposition_parses_and_reports_the_fleet(app):
    with database.connection_context():
        first = received(1)
        apply_batch(database.obj, [first, received(2), received(3, station_id="st-b")])
        change_status(first.tx.body["number"], "in_review", actor="officer-1", comment="seen")
        RejectedMessage.create(topic="t", reason="r", size=1, payload_sha256="0" * 64)
        Station.update(
            presence="online",
            last_heartbeat_at=datetime.now(UTC) - timedelta(seconds=30),
            backlog=7,
            oldest_undelivered_age_s=90.0,
            metrics=json.dumps({"printer_state": 2, "tamper_open": 1.0, "card_present": 1.0}),
        ).where(Station.station_id == "st-a").execute()
        Station.update(presence="offline").where(Station.station_id == "st-b").execute()
        alarms.evaluate(datetime.now(UTC), alarms.thresholds())

    samples = scrape(app)
    st_a = (("station_id", "st-a"),)
    assert samples["dcs_database_up", ()] == 1
    assert samples["dcs_transactions_applied_total", ()] == 3
    assert samples["dcs_rejected_messages_total", ()] == 1
    assert samples["dcs_petitions", (("status", "in_review"),)] == 1
    assert samples["dcs_petitions", (("status", "received"),)] == 2
    assert samples["dcs_stations", (("presence", "online"),)] == 1
    assert samples["dcs_stations", (("presence", "offline"),)] == 1
    assert samples["dcs_stations", (("presence", "unknown"),)] == 0
    assert samples["dcs_station_sync_lag_seconds", st_a] == 90
    assert samples["dcs_station_outbox_backlog", st_a] == 7
    assert 30 <= samples["dcs_station_heartbeat_age_seconds", st_a] < 3600
    assert samples["dcs_station_printer_state", st_a] == 2
    assert samples["dcs_station_tamper_open", st_a] == 1
    assert samples["dcs_sync_lag_max_seconds", ()] == 90
    assert samples["dcs_outbox_backlog", ()] == 7
    assert samples["dcs_alarms_open", (("rule", "paper_out"), ("severity", "critical"))] == 1
    assert samples["dcs_alarms_open", (("rule", "tamper"), ("severity", "critical"))] == 1
    # st-b never sent a heartbeat: no invented per-station figures; nothing personal at all.
    assert not [key for key in samples if ("station_id", "st-b") in key[1]]
    assert not [key for key in samples if "card_present" in key[0]]


def test_a_database_it_cannot_read_is_reported_not_hidden(app):
    with database.connection_context():
        Station.drop_table()
    assert scrape(app) == {("dcs_database_up", ()): 0}


def test_the_figures_follow_a_running_ingest_worker(server_app, ingest, station_factory):
    """The ingest worker is not the web app: the scrape sees what it applied all the same."""
    station = station_factory()
    for _ in range(3):
        station.file_petition("general_petition", "0812345678", {"subject": "light"})
    wait_until(lambda: station.store.outbox.backlog().pending == 0, "the outbox to drain")
    wait_until(
        lambda: Station.get_by_id("st-a").last_heartbeat_at is not None, "a heartbeat to arrive"
    )
    samples = scrape(server_app)
    assert samples["dcs_transactions_applied_total", ()] == 3
    assert samples["dcs_stations", (("presence", "online"),)] == 1
    assert ("dcs_station_sync_lag_seconds", (("station_id", "st-a"),)) in samples


def test_a_large_fleet_can_drop_the_per_station_series(sqlite_url):
    app = create_app(
        {
            "TESTING": True,
            "SECRET_KEY": "metrics",
            "DATABASE_URL": sqlite_url,
            "METRICS_PER_STATION": False,
        }
    )
    with database.connection_context():
        apply_batch(database.obj, [received(1)])
        Station.update(
            presence="online", last_heartbeat_at=datetime.now(UTC), backlog=2, metrics="{}"
        ).execute()
    samples = scrape(app)
    assert not [key for key in samples if key[0].startswith("dcs_station_")]
    assert samples["dcs_outbox_backlog", ()] == 2
    assert samples["dcs_stations", (("presence", "online"),)] == 1
    database.close()
