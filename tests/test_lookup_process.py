"""Live lookups in a process of their own: ``dcs-server lookup`` beside an ingest worker
started with ``--no-lookups`` (docs/scale.md: a busy ingest never holds up a resident)."""

from __future__ import annotations

import os
import secrets
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from device.errors import LookupTimeoutError
from devtools.seed import seed_records
from devtools.synthetic import residents
from sync_server import broker_settings
from sync_server.audit.models import AuditEvent
from sync_server.db import database
from sync_server.ingest.worker import IngestWorker
from tests.conftest import server_config, write_server_toml
from tests.helpers import wait_until

BIN = Path(sys.executable).parent


@pytest.fixture
def ingest_without_lookups(server_app):
    worker = IngestWorker(database.obj, broker_settings(server_app.config), lookups=False)
    with worker:
        wait_until(worker.connected.is_set, "the ingest worker to connect")
        yield worker


@pytest.fixture
def lookup_process(server_app, broker, tmp_path):
    settings = {
        **server_config(server_app.config["DATABASE_URL"], broker),
        "SECRET_KEY": secrets.token_urlsafe(48),  # the test one is refused outside TESTING
        "TESTING": None,
    }
    config = write_server_toml(tmp_path / "server.toml", settings)
    env = {**os.environ, "DCS_SERVER_CONFIG": str(config)}
    with (tmp_path / "lookup.log").open("wb") as log:
        process = subprocess.Popen([BIN / "dcs-server", "lookup"], env=env, stderr=log)
    try:
        yield process, tmp_path / "lookup.log"
    finally:
        process.send_signal(signal.SIGTERM)  # by its pid
        assert process.wait(30) == 0


def test_an_ingest_without_lookups_answers_none(
    server_app, ingest_without_lookups, station_factory
):
    station = station_factory(lookup_timeout_s=0.5)
    wait_until(lambda: station.sync.link.connected, "the station to connect")
    with pytest.raises(LookupTimeoutError):
        station.sync.lookups.insured_summary("0000000000001")


def test_the_lookup_process_answers_and_audits(
    server_app, ingest_without_lookups, lookup_process, station_factory
):
    process, log = lookup_process
    seed_records(3)
    person = next(residents(1))
    station = station_factory()
    wait_until(lambda: station.sync.link.connected, "the station to connect")
    wait_until(lambda: b"lookup worker 1 running" in log.read_bytes(), "the lookup process", 30)

    def answered():
        try:
            return station.sync.lookups.insured_summary(person.citizen_id)
        except LookupTimeoutError:  # its subscription may not be in place yet
            return None

    response = wait_until(answered, "the lookup process to answer")
    assert response.status == "ok"
    assert response.record.full_name_th == person.full_name_th
    assert (
        AuditEvent.select()
        .where(AuditEvent.actor == "station:st-a", AuditEvent.subject == person.citizen_id)
        .exists()
    )
    assert process.poll() is None
    assert person.citizen_id.encode() not in log.read_bytes()  # no personal data logged
