"""Station updates end to end with real processes: real releases of this checkout, real
virtualenvs, the real daemon under the supervisor, real Mosquitto and a real ingest worker.

One station root serves the whole module (a virtualenv takes tens of seconds to build), so
the tests run in order: N is installed first; N+1 (with a newer, expand-only store schema)
commits; a release whose self-test fails rolls back by itself; a rollback to N runs on the
newer store; then a SIGKILL after each step leaves a station that boots a working release.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from contract.release import public_key_text
from device.health import read_health
from device.store import open_store
from device.update.health_check import HealthCheck
from device.update.installer import Installer
from device.update.journal import read_journal
from device.update.layout import Layout
from device.update.supervisor import Supervised, read_state
from devtools.broker import LocalBroker
from provisioning.broker import SERVER_USER, BrokerLimits
from sync_server import broker_settings, create_app
from sync_server.db import database
from sync_server.ingest.worker import IngestWorker
from sync_server.migrations import upgrade_url
from tests.conftest import server_config, session_ca, station_config
from tests.helpers import wait_until
from tests.release_fixtures import Releases, station_toml

STATION = "st-a"


@pytest.fixture(scope="module")
def fleet(tmp_path_factory, releases: Releases):
    """A broker, a server ingesting, and one station root running release N (0.1.0)."""
    base = tmp_path_factory.mktemp("update")
    broker = LocalBroker(limits=BrokerLimits(), ca=session_ca())
    broker.add_user(SERVER_USER)
    broker.add_user(STATION)
    broker.start()
    app = create_app(server_config(upgrade_url(f"sqlite:///{base / 'server.sqlite3'}"), broker))
    worker = IngestWorker(database.obj, broker_settings(app.config), worker_id="1").start()
    config = station_config(base, broker, STATION)
    config_file = base / "station.toml"
    config_file.write_text(station_toml(config, public_key_text(releases.key.public_key())))
    root = base / "root"
    installer = _installer(root, Path(config.data_dir))
    installer.install_first(releases.n)
    supervisor = subprocess.Popen(
        [
            str(Path(sys.executable).parent / "dcs-station"),
            "update",
            "supervise",
            "--root",
            str(root),
            "--",
            "--config",
            str(config_file),
            "--unsigned-config",
        ],
    )
    station = Station(root, config_file, Path(config.data_dir), config)
    wait_until(lambda: _healthy(station, "0.1.0"), "release N to run")
    yield station
    supervisor.send_signal(signal.SIGTERM)
    supervisor.wait(30)
    worker.stop()
    database.close()
    broker.cleanup()


class Station:
    def __init__(self, root: Path, config_file: Path, data_dir: Path, config) -> None:
        self.root, self.config_file, self.data_dir, self.config = (
            root,
            config_file,
            data_dir,
            config,
        )

    def cli(self, *args: str, env: dict | None = None) -> subprocess.CompletedProcess:
        command = [str(Path(sys.executable).parent / "dcs-station"), "update", *args]
        if args[0] != "status":
            command += ["--config", str(self.config_file), "--unsigned-config"]
            command += ["--services", "supervisor"]
        command += ["--root", str(self.root)]
        return subprocess.run(
            command, capture_output=True, text=True, env={**os.environ, **(env or {})}, check=False
        )


def _installer(root: Path, data_dir: Path, deadline_s: float = 60.0) -> Installer:
    from tests.release_fixtures import RELEASE_KEY

    manager = Supervised(root)
    return Installer(
        Layout(root), manager, HealthCheck(manager, data_dir, deadline_s), RELEASE_KEY.public_key()
    )


def _healthy(station: Station, version: str) -> bool:
    report = read_health(station.data_dir)
    state = read_state(station.root)
    return bool(
        state is not None
        and state.ready
        and report is not None
        and report.version == version
        and report.broker_connected
    )


def _status(station: Station) -> dict:
    result = station.cli("status")
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_a_healthy_release_is_committed_and_the_store_survives(fleet: Station, releases):
    # Petitions filed on N, through N's own command line, while its daemon runs.
    petition = fleet.root / "current" / "venv" / "bin" / "dcs-station"
    for phone in ("0812345678", "0898765432"):
        filed = subprocess.run(
            [
                str(petition),
                "petition",
                "--config",
                str(fleet.config_file),
                "--phone",
                phone,
                "--no-receipt",
            ],
            capture_output=True,
            text=True,
            check=True,
        )
        assert filed.stdout.startswith("P-ST-A-")
    result = fleet.cli("install", str(releases.n1))
    assert result.returncode == 0, result.stderr
    assert "0.1.1: committed" in result.stdout
    status = _status(fleet)
    assert status["current"] == "0.1.1"
    assert status["installed"] == ["0.1.0", "0.1.1"]
    assert [s["state"] for s in status["last_update"]["history"]] == [
        "download",
        "verify",
        "install",
        "switch",
        "restart",
        "check",
        "committed",
    ]
    wait_until(lambda: _healthy(fleet, "0.1.1"), "N+1 to run")
    with open_store(fleet.config.store_path, fleet.config.store_key_path, STATION) as store:
        assert store.schema_version == releases.n1_schema  # N+1 migrated the store forward
        assert store.next_serial("petition") == 3  # the counter went on: nothing was lost
        assert store.outbox.backlog().pending == 0  # and both petitions were delivered


def test_a_release_whose_selftest_fails_rolls_back_by_itself(fleet: Station, releases):
    result = fleet.cli("install", str(releases.failing), "--deadline", "60")
    assert result.returncode == 1
    assert "0.1.2: rolled-back (self-test failed: regression check" in result.stdout
    status = _status(fleet)
    assert status["current"] == "0.1.1"
    assert "0.1.2" not in status["installed"]
    assert status["last_update"]["reason"].startswith("self-test failed")
    wait_until(lambda: _healthy(fleet, "0.1.1"), "N+1 to run again")


def test_rolled_back_to_n_the_station_runs_on_the_newer_store(fleet: Station, releases):
    result = fleet.cli("rollback")
    assert result.returncode == 0, result.stderr
    assert _status(fleet)["current"] == "0.1.0"
    wait_until(lambda: _healthy(fleet, "0.1.0"), "N to run on N+1's store")
    with open_store(fleet.config.store_path, fleet.config.store_key_path, STATION) as store:
        assert store.schema_version == releases.n1_schema  # not migrated back: forward only


@pytest.mark.parametrize("step", ["download", "verify", "install", "switch", "restart", "commit"])
def test_a_power_cut_after_any_step_leaves_a_working_station(fleet: Station, releases, step):
    before = _status(fleet)["current"]
    target = releases.n1 if before == "0.1.0" else releases.n
    killed = fleet.cli("install", str(target), env={"DCS_FAILPOINTS": f"update.{step}=kill"})
    assert killed.returncode == -signal.SIGKILL
    assert read_journal(Layout(fleet.root).journal).state not in ("committed", "failed")
    resumed = fleet.cli("resume")
    assert resumed.returncode == 0, resumed.stderr
    journal = read_journal(Layout(fleet.root).journal)
    after = _status(fleet)["current"]
    if step in ("download", "verify", "install"):  # never switched: the old release stays
        assert journal.state == "failed" and after == before
        assert journal.reason == f"interrupted during {step}"
    else:  # switched, not committed: one verify-boot, found healthy, committed
        assert journal.state == "committed" and after != before
    assert Layout(fleet.root).is_complete(after)
    wait_until(lambda: _healthy(fleet, after), f"{after} to run after the cut")
    assert not (fleet.root / "staging").exists()


def test_no_release_key_refuses_every_release(tmp_path, releases):
    installer = Installer(
        Layout(tmp_path / "root"),
        Supervised(tmp_path),
        HealthCheck(Supervised(tmp_path), tmp_path),
        None,
    )
    with pytest.raises(Exception, match="no release key"):
        installer.install(releases.n)
    assert not (tmp_path / "root" / "releases").exists()
    shutil.rmtree(tmp_path / "root", ignore_errors=True)
