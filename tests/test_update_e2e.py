"""Staged rollouts end to end, every part a real process: a release reaches stations over MQTT.

Three stations are installed from release N (0.1.0) under their own release roots and run as
real daemons under the supervisor (the service manager behind the installer's interface),
with a real Mosquitto (TLS, the generated ACL) and the real server: ``dcs-server ingest`` and
the rollout worker ``dcs-server rollouts run``, driven by ``dcs-server rollouts create``.
Each daemon's update agent receives its signed jobs, fetches the release by blocks, hands it
to the installer and reports.

st-b's receipt printer is unplugged (nothing listens where its config says): release N runs
(the printer may be off at start), but the self-test a new release or setting must pass
fails there, so its health check fails. The tests run in order on the same fleet:

1. N+1 to st-a and st-b in one wave: st-b rolls back by itself, the wave aborts, and st-a —
   which commits N+1 (if the rollback job comes while it installs, it waits for the commit) —
   is told to roll back, and does;
2. N+1 to st-a then st-c in two waves while st-c's daemon is stopped: the second wave waits
   for it, it gets the release when it returns, before the deadline; st-a fetches only what
   its cache lacks, st-b is left on N;
3. a configuration change to st-a and st-b: the same health check, st-b restores its
   settings, the wave aborts and st-a restores its settings too.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from contract.release import public_key_text
from device.config import load_config
from device.config_override import read_override
from device.health import read_health
from device.update.health_check import HealthCheck
from device.update.installer import Installer
from device.update.layout import Layout
from device.update.supervisor import Supervised, read_state
from devtools.broker import LocalBroker
from devtools.net import free_port
from provisioning.broker import SERVER_USER, BrokerLimits
from sync_server import create_app
from sync_server.db import database
from sync_server.rollouts.models import Release, Rollout, RolloutJob
from tests.conftest import (
    server_signing_key_file,
    session_ca,
    station_config,
    write_server_toml,
)
from tests.helpers import wait_until
from tests.release_fixtures import Releases, station_toml

BIN = Path(sys.executable).parent
STATIONS = ("st-a", "st-b", "st-c")
#: Long enough for a release to download and build its virtualenv on a busy 2-core machine.
ROLLOUT_WAIT_S = 420.0


class FleetStation:
    """One station: its release root, config, data and supervisor process."""

    def __init__(self, station_id: str, root: Path, config_file: Path, data_dir: Path) -> None:
        self.station_id, self.root, self.config_file, self.data_dir = (
            station_id,
            root,
            config_file,
            data_dir,
        )
        self.supervisor: subprocess.Popen | None = None

    def start(self) -> None:
        env = {
            **os.environ,
            "DCS_RELEASE_ROOT": str(self.root),
            "DCS_SERVICE_MANAGER": "supervisor",
        }
        self.supervisor = subprocess.Popen(
            [
                str(BIN / "dcs-station"),
                "update",
                "supervise",
                "--root",
                str(self.root),
                "--",
                "--config",
                str(self.config_file),
                "--unsigned-config",
            ],
            env=env,
        )

    def stop(self) -> None:
        if self.supervisor is not None and self.supervisor.poll() is None:
            self.supervisor.send_signal(signal.SIGTERM)
            self.supervisor.wait(60)
        self.supervisor = None

    def current(self) -> str | None:
        return Layout(self.root).current_version()

    def healthy(self, version: str) -> bool:
        report, state = read_health(self.data_dir), read_state(self.root)
        return bool(
            state is not None
            and state.ready
            and report is not None
            and report.version == version
            and report.broker_connected
        )


class Fleet:
    def __init__(self, base: Path, env: dict[str, str], app, stations: dict[str, FleetStation]):
        self.base, self.env, self.app, self.stations = base, env, app, stations

    def server(self, *args: str) -> str:
        result = subprocess.run(
            [str(BIN / "dcs-server"), *args],
            env=self.env,
            capture_output=True,
            text=True,
            check=False,
            timeout=120,
        )
        assert result.returncode == 0, result.stderr
        return result.stdout

    def create(self, *args: str) -> str:
        out = self.server("rollouts", "create", *args)
        return out.split()[1]  # "rollout <id> created"

    def rollout(self, rollout_id: str) -> Rollout:
        with database.connection_context():
            return Rollout.get(Rollout.rollout_id == rollout_id)

    def jobs(self, rollout_id: str) -> dict[str, RolloutJob]:
        with database.connection_context():
            return {
                job.station_id: job
                for job in RolloutJob.select().join(Rollout).where(Rollout.rollout_id == rollout_id)
            }


def _install_first(root: Path, data_dir: Path, releases: Releases) -> None:
    manager = Supervised(root)
    Installer(
        Layout(root), manager, HealthCheck(manager, data_dir), releases.key.public_key()
    ).install_first(releases.n)


@pytest.fixture(scope="module")
def fleet(tmp_path_factory, releases: Releases):
    base = tmp_path_factory.mktemp("e2e")
    broker = LocalBroker(limits=BrokerLimits(), ca=session_ca())
    broker.add_user(SERVER_USER)
    for station_id in STATIONS:
        broker.add_user(station_id)
    broker.start()
    settings = {
        "SECRET_KEY": "e2e-test-secret-key-not-for-production",
        "DATABASE_URL": f"sqlite:///{base / 'server.sqlite3'}",
        "REPLICA_SIGNING_KEY_FILE": str(server_signing_key_file()),
        "RELEASE_PUBLIC_KEY": public_key_text(releases.key.public_key()),
        "RELEASES_DIR": str(base / "releases"),
        "ROLLOUT_TICK_S": 0.5,
        "ROLLOUT_RESEND_S": 30,
        **broker.server_config(),
    }
    server_file = write_server_toml(base / "server.toml", settings)
    env = {**os.environ, "DCS_SERVER_CONFIG": str(server_file)}
    processes: list[subprocess.Popen] = []
    stations: dict[str, FleetStation] = {}
    try:
        fleet = Fleet(base, env, None, stations)
        fleet.server("db", "upgrade")
        assert "release 0.1.1 registered" in fleet.server("rollouts", "upload", str(releases.n1))
        for command in (["ingest"], ["rollouts", "run"]):
            with open(base / f"{command[-1]}.log", "wb") as log:
                processes.append(
                    subprocess.Popen([str(BIN / "dcs-server"), *command], env=env, stderr=log)
                )
        fleet.app = create_app({**settings, "TESTING": True})
        release_key = public_key_text(releases.key.public_key())
        builds = []
        for station_id in STATIONS:
            config = station_config(base, broker, station_id)
            toml = station_toml(config, release_key)
            if station_id == "st-b":  # the printer is unplugged: its self-test fails
                toml += (
                    '\n[printer]\nbackend = "virtual"\n\n[printer.virtual]\n'
                    f'host = "127.0.0.1"\nport = {free_port()}\ntimeout_s = 1.0\n'
                )
            config_file = base / f"{station_id}.toml"
            config_file.write_text(toml)
            station = FleetStation(
                station_id, base / station_id / "root", config_file, Path(config.data_dir)
            )
            stations[station_id] = station
            # Three virtualenvs at once: each is mostly pip waiting on the disk.
            build = threading.Thread(
                target=_install_first, args=(station.root, station.data_dir, releases)
            )
            build.start()
            builds.append(build)
        for build in builds:
            build.join()
        for station in stations.values():
            assert station.current() == "0.1.0"
            station.start()
        for station in stations.values():
            wait_until(lambda s=station: s.healthy("0.1.0"), f"{station.station_id} on N", 60)
        yield fleet
    finally:
        for station in stations.values():
            station.stop()
        for process in processes:
            process.send_signal(signal.SIGTERM)
            process.wait(30)
        database.close()
        broker.cleanup()


def _settled(fleet: Fleet, rollout_id: str, *states: str) -> bool:
    return fleet.rollout(rollout_id).state in states


def test_a_failing_station_rolls_back_by_itself_and_the_wave_aborts(fleet: Fleet):
    rollout_id = fleet.create(
        "--release", "0.1.1", "--target", "stations:st-a,st-b", "--waves", "2", "--abort", "0",
    )  # fmt: skip
    wait_until(lambda: _settled(fleet, rollout_id, "aborted"), "the wave to abort", ROLLOUT_WAIT_S)
    # Aborted by st-b's failure: at once (100% can no longer be reached) or, if st-a had
    # committed already, as 1 of 2 executed failed.
    assert fleet.rollout(rollout_id).reason.startswith("wave 1: ")
    jobs = fleet.jobs(rollout_id)
    assert jobs["st-b"].state == "rolled_back"
    assert jobs["st-b"].reason.startswith("self-test failed: printer open: PrinterOfflineError")
    assert jobs["st-b"].rollback_job_id is None  # it rolled back by itself: nothing to send
    a = fleet.stations["st-a"]
    # Two reports (the release job, then the rollback job); a server may store them in
    # either order when two ingest workers share the subscription.
    wait_until(
        lambda: (
            (job := fleet.jobs(rollout_id)["st-a"]).rollback_state == "rolled_back"
            and job.state == "rolled_back"
        ),
        "st-a to roll back when told",
        ROLLOUT_WAIT_S,
    )
    job_a = fleet.jobs(rollout_id)["st-a"]
    assert job_a.state == "rolled_back" and job_a.reason.startswith("rolled back by the server")
    assert job_a.version == "0.1.0"  # reported by the daemon running after the rollback
    # On st-a the installer had committed N+1 (its output, kept by the agent) before it was
    # told to roll back.
    installer_output = (a.data_dir / "update" / f"{job_a.job_id}.log").read_text()
    assert "0.1.1: committed" in installer_output
    for station in fleet.stations.values():
        wait_until(lambda s=station: s.healthy("0.1.0"), f"{station.station_id} on N", 120)
        assert station.current() == "0.1.0"
    assert Layout(a.root).installed() == ["0.1.0"]  # the failed release is gone


def test_an_offline_station_gets_the_release_when_it_returns(fleet: Fleet):
    c = fleet.stations["st-c"]
    c.stop()
    rollout_id = fleet.create(
        "--release", "0.1.1", "--target", "stations:st-a,st-c", "--waves", "1,1",
    )  # fmt: skip
    wait_until(
        lambda: fleet.jobs(rollout_id)["st-a"].state == "committed", "st-a commits", ROLLOUT_WAIT_S
    )
    wait_until(lambda: fleet.jobs(rollout_id)["st-c"].state == "sent", "st-c's job sent", 60)
    assert fleet.rollout(rollout_id).state == "running"  # waiting for st-c
    assert c.current() == "0.1.0"
    c.start()
    wait_until(lambda: _settled(fleet, rollout_id, "completed"), "st-c to commit", ROLLOUT_WAIT_S)
    jobs = fleet.jobs(rollout_id)
    assert {jobs["st-a"].state, jobs["st-c"].state} == {"committed"}
    assert jobs["st-c"].version == "0.1.1"
    for station_id, version in (("st-a", "0.1.1"), ("st-b", "0.1.0"), ("st-c", "0.1.1")):
        station = fleet.stations[station_id]
        wait_until(lambda s=station, v=version: s.healthy(v), f"{station_id} on {version}", 60)
        assert station.current() == version
    with database.connection_context():
        total = Release.get(Release.version == "0.1.1").total_bytes
    # st-c fetched the whole release once; st-a still had every wheel in its cache by hash
    # from the first rollout and fetched the manifest alone.
    assert total <= jobs["st-c"].bytes_served <= 1.2 * total
    assert jobs["st-a"].bytes_served < total / 4


def test_a_configuration_change_is_health_checked_and_rolled_back(fleet: Fleet):
    rollout_id = fleet.create(
        "--config-label", "slower-heartbeat", "--set", "sync.heartbeat_interval_s=7",
        "--target", "stations:st-a,st-b", "--waves", "2", "--abort", "0",
    )  # fmt: skip
    wait_until(lambda: _settled(fleet, rollout_id, "aborted"), "the wave to abort", ROLLOUT_WAIT_S)
    wait_until(
        lambda: fleet.jobs(rollout_id)["st-a"].rollback_state == "rolled_back",
        "st-a to restore its settings",
        120,
    )
    jobs = fleet.jobs(rollout_id)
    assert jobs["st-b"].state == "rolled_back"
    assert jobs["st-b"].reason.startswith("self-test failed: printer open: PrinterOfflineError")
    a = fleet.stations["st-a"]
    output = (a.data_dir / "update" / f"{jobs['st-a'].job_id}.log").read_text()
    assert "config slower-heartbeat: committed" in output  # then restored when told
    for station_id in ("st-a", "st-b"):
        station = fleet.stations[station_id]
        assert read_override(station.data_dir) is None  # the settings before the change
        assert load_config(station.config_file).sync.heartbeat_interval_s == 0.5
        wait_until(lambda s=station: read_state(s.root).ready, f"{station_id} ready", 60)
