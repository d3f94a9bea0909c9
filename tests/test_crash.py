"""Crashes at the points that matter, against the real broker: nothing lost, nothing twice.

Each test SIGKILLs a real process (a station, the ingest worker, a store writer) at a named
failpoint (``contract/failpoints.py``) or at a random instant, starts it again normally and
checks that the server applied every filed transaction exactly once, that every outbox row
settled as delivered and that the server still serves afterwards.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from functools import partial
from pathlib import Path

import msgspec
import pytest

from contract import Ack, Channel, decode, station_topic
from device.config import StationConfig
from device.station import Station
from devtools.broker import LocalBroker
from provisioning.broker import SERVER_USER
from sync_server.ingest.models import AppliedTransaction
from sync_server.petitions.models import Petition
from tests.conftest import station_config
from tests.helpers import wait_until
from tests.raw_client import RawClient

PHONE = "0812345678"
BIN = Path(sys.executable).parent
REPO = Path(__file__).resolve().parent.parent
KILLED = -signal.SIGKILL


# --- helpers shared with test_burst.py ----------------------------------------------------


def _toml_value(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(item) for item in value) + "]"
    return json.dumps(str(value))  # a JSON string is a valid TOML basic string


#: The tests' configs are not signed bundles: the daemon runs them only when told so.
UNSIGNED_DAEMON = [BIN / "dcs-station", "run", "--unsigned-config"]


def write_station_toml(path: Path, config: StationConfig) -> Path:
    """Write ``config`` as the TOML file ``dcs-station --config`` reads."""
    data = msgspec.to_builtins(config)
    lines = [
        f"{key} = {_toml_value(value)}"
        for key, value in data.items()
        if value is not None and not isinstance(value, dict)
    ]
    for table, values in data.items():
        if isinstance(values, dict):
            lines.append(f"\n[{table}]")
            lines += [f"{k} = {_toml_value(v)}" for k, v in values.items() if v is not None]
    path.write_text("\n".join(lines) + "\n")
    return path


class Processes:
    """Subprocesses of one test, output in files, stopped by pid at teardown."""

    def __init__(self, log_dir: Path) -> None:
        self._log_dir = log_dir
        self._procs: list[tuple[subprocess.Popen, Path]] = []

    def spawn(
        self, argv: list[str], *, failpoints: str | None = None, env: dict[str, str] | None = None
    ) -> subprocess.Popen:
        # Hermetic: nothing DCS_* leaks in from the environment running the tests.
        environ = {k: v for k, v in os.environ.items() if not k.startswith("DCS_")}
        environ.update(env or {})
        if failpoints:
            environ["DCS_FAILPOINTS"] = failpoints
        base = self._log_dir / f"proc-{len(self._procs)}"
        with open(f"{base}.out", "wb") as out, open(f"{base}.err", "wb") as err:
            proc = subprocess.Popen(
                [str(arg) for arg in argv], stdout=out, stderr=err, env=environ, cwd=REPO
            )
        self._procs.append((proc, base))
        return proc

    def _base(self, proc: subprocess.Popen) -> Path:
        return next(base for p, base in self._procs if p is proc)

    def stdout(self, proc: subprocess.Popen) -> str:
        return Path(f"{self._base(proc)}.out").read_text()

    def stderr(self, proc: subprocess.Popen) -> str:
        return Path(f"{self._base(proc)}.err").read_text()

    def wait(self, proc: subprocess.Popen, what: str = "the process to exit") -> int:
        """Its exit status (negative: the signal that ended it); a hang guard only."""
        wait_until(lambda: proc.poll() is not None, what)
        return proc.returncode

    def stop(self, proc: subprocess.Popen) -> None:
        """SIGTERM by pid, then SIGKILL if it does not go; safe twice."""
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()

    def stop_all(self) -> None:
        for proc, _ in self._procs:
            self.stop(proc)


@pytest.fixture
def processes(tmp_path: Path) -> Iterator[Processes]:
    procs = Processes(tmp_path)
    yield procs
    procs.stop_all()


def outbox_states(station: Station) -> dict[str, str]:
    """Every outbox row: tx id -> state."""
    rows = station.store.models.outbox
    return dict(rows.select(rows.tx_id, rows.state).tuples())


def assert_delivered_exactly_once(station: Station, expected: int) -> None:
    """The outbox drains; every row is delivered and applied once; nothing else is applied."""
    wait_until(lambda: station.store.outbox.backlog().pending == 0, "the outbox to drain")
    states = outbox_states(station)
    assert len(states) == expected
    assert set(states.values()) == {"delivered"}
    station_id = station.config.station_id
    applied = AppliedTransaction.select(AppliedTransaction.tx_id).where(
        AppliedTransaction.station_id == station_id
    )
    assert sorted(row.tx_id for row in applied) == sorted(states)
    petitions = Petition.select(Petition.tx_id).where(Petition.station_id == station_id)
    assert sorted(row.tx_id for row in petitions) == sorted(states)


def assert_server_still_serves(station: Station, filed: int) -> None:
    """A petition filed after the crash is applied too, and the totals stay exact."""
    number = station.file_petition("general_petition", PHONE, {"subject": "after the crash"})
    wait_until(lambda: Petition.get_or_none(Petition.number == number), "a petition after it")
    assert_delivered_exactly_once(station, filed + 1)


def station_toml(tmp_path: Path, broker: LocalBroker, station_id: str = "st-a") -> Path:
    return write_station_toml(
        tmp_path / f"{station_id}.toml", station_config(tmp_path, broker, station_id)
    )


def file_offline(station_factory, count: int) -> list[str]:
    """File ``count`` petitions into st-a's outbox without syncing, then close the store."""
    station = station_factory(start=False)
    numbers = [station.file_petition("general_petition", PHONE, {}) for _ in range(count)]
    station.close()
    return numbers


# --- 1. station killed between its commit and the publish ----------------------------------


def test_station_killed_after_commit_before_showing_the_number(
    tmp_path, broker, server_app, ingest, station_factory, processes
):
    toml = station_toml(tmp_path, broker)
    for _ in range(3):
        proc = processes.spawn(
            [BIN / "dcs-station", "petition", "--config", toml, "--phone", PHONE],
            failpoints="station.after_commit=kill",
        )
        assert processes.wait(proc) == KILLED
        assert processes.stdout(proc) == ""  # died before the number reached the screen

    station = station_factory(start=False)
    assert station.store.outbox.backlog().pending == 3  # each commit survived its crash
    station.start()
    assert_delivered_exactly_once(station, 3)
    assert_server_still_serves(station, 3)


def test_station_daemon_killed_before_publishing_delivers_everything_after_restart(
    tmp_path, broker, server_app, ingest, station_factory, processes
):
    numbers = file_offline(station_factory, 20)
    proc = processes.spawn(
        [
            BIN / "dcs-station",
            "run",
            "--unsigned-config",
            "--config",
            station_toml(tmp_path, broker),
        ],
        failpoints="station.before_publish=kill",
    )
    assert processes.wait(proc) == KILLED
    assert AppliedTransaction.select().count() == 0  # it died before its first publish

    station = station_factory()
    assert_delivered_exactly_once(station, 20)
    assert sorted(p.number for p in Petition.select()) == sorted(numbers)
    assert_server_still_serves(station, 20)


# --- 2. station killed between the broker's PUBACK and the server's ack --------------------


@pytest.mark.parametrize("server", ["running", "stopped"])
def test_station_killed_after_puback_before_ack(
    server, tmp_path, broker, server_app, ingest_factory, station_factory, processes
):
    worker = ingest_factory(server_app)
    file_offline(station_factory, 20)
    if server == "stopped":
        worker.stop()  # its persistent session keeps what the station sends
    proc = processes.spawn(
        [
            BIN / "dcs-station",
            "run",
            "--unsigned-config",
            "--config",
            station_toml(tmp_path, broker),
        ],
        failpoints="station.after_puback=kill",
    )
    assert processes.wait(proc) == KILLED

    station = station_factory(start=False)
    assert station.store.outbox.backlog().pending == 20  # no server ack ever reached it
    if server == "running":
        # The broker had at least one transaction: the server applies it, and its ack waits in
        # the dead station's session while the outbox still says pending.
        wait_until(lambda: AppliedTransaction.select().count() >= 1, "the server to apply one")
        station.start()
    else:
        # The restarted station publishes everything again while the server is away, so the
        # broker now holds two copies of what it had PUBACKed before the crash.
        station.start()
        wait_until(lambda: station.sync.drainer.published >= 20, "the station to republish")
        worker = ingest_factory(server_app)
    assert_delivered_exactly_once(station, 20)
    if server == "stopped":
        assert worker.duplicates >= 1  # the second copy was re-acked, not applied
    assert_server_still_serves(station, 20)


# --- 3. server ingest killed between its commit and its acks -------------------------------


def ingest_env(server_app, broker: LocalBroker) -> dict[str, str]:
    """``dcs-server ingest`` configured by DCS_* environment variables only."""
    config = server_app.config
    return {
        "DCS_SECRET_KEY": "test-only-secret-0123456789abcdefghij",
        "DCS_DATABASE_URL": config["DATABASE_URL"],
        # JSON-quoted: Flask parses DCS_* values as JSON, and a password could look like one.
        **{
            f"DCS_{key}": json.dumps(value)
            for key, value in broker.server_config().items()
            if value is not None
        },
    }


def spawn_ingest(processes: Processes, env: dict[str, str], failpoints: str | None = None):
    proc = processes.spawn([BIN / "dcs-server", "ingest"], env=env, failpoints=failpoints)
    wait_until(
        lambda: "ingest worker connected" in processes.stderr(proc) or proc.poll() is not None,
        "the ingest worker to connect",
    )
    assert proc.poll() is None, processes.stderr(proc)
    return proc


def ack_outcomes(watcher: RawClient) -> dict[str, list[str]]:
    """tx id -> the outcomes of every ack the server sent for it, in order."""
    outcomes: dict[str, list[str]] = {}
    for message in list(watcher.messages):
        for item in decode(message.payload, Ack).results:
            outcomes.setdefault(item.tx_id, []).append(item.outcome)
    return outcomes


def test_ingest_killed_between_apply_and_ack_answers_the_retry_as_duplicate(
    broker, server_app, station_factory, processes
):
    env = ingest_env(server_app, broker)
    worker = spawn_ingest(processes, env, failpoints="server.after_apply=kill")
    watcher = RawClient(broker, SERVER_USER, client_id="ack-watcher")
    try:
        watcher.subscribe(station_topic("st-a", Channel.ACK))
        station = station_factory()
        for _ in range(20):
            station.file_petition("general_petition", PHONE, {})
        assert processes.wait(worker, "the ingest worker to crash") == KILLED

        # Its first batch is committed, and not one ack went out for it.
        applied_before = {
            tx_id for (tx_id,) in AppliedTransaction.select(AppliedTransaction.tx_id).tuples()
        }
        assert applied_before
        assert not ack_outcomes(watcher)
        assert station.store.outbox.backlog().pending == 20

        spawn_ingest(processes, env)  # the same worker id: it resumes its session
        assert_delivered_exactly_once(station, 20)
        outcomes = ack_outcomes(watcher)
        for tx_id in applied_before:  # the station's retry found it applied: re-acked only
            assert set(outcomes[tx_id]) == {"duplicate"}
        assert_server_still_serves(station, 20)
    finally:
        watcher.close()


# --- 6. a store writer killed in the middle of a stream of enqueues ------------------------

WRITER = """
import sys
from device.config import load_config
from device.station import build_station

station = build_station(load_config(sys.argv[1]))
while True:
    number = station.file_petition("general_petition", "0812345678", {"subject": "x" * 300})
    print(number, flush=True)  # only once file_petition returned: committed
"""


def printed_or_died(processes: Processes, proc: subprocess.Popen, count: int) -> bool:
    return len(processes.stdout(proc).splitlines()) >= count or proc.poll() is not None


def test_store_killed_mid_stream_keeps_every_reported_commit_and_nothing_half_written(
    tmp_path, broker, server_app, ingest, station_factory, processes
):
    toml = station_toml(tmp_path, broker)
    numbers: list[str] = []
    for target in (25, 60, 40):
        proc = processes.spawn([sys.executable, "-c", WRITER, toml])
        wait_until(partial(printed_or_died, processes, proc, target), "some commits")
        assert proc.poll() is None, processes.stderr(proc)
        proc.kill()  # SIGKILL by pid, wherever it is: mid-insert, mid-fsync, mid-print
        assert processes.wait(proc) == KILLED
        # A torn last line is a number that was never reported.
        lines = processes.stdout(proc).splitlines(keepends=True)
        reported = {line.strip() for line in lines if line.endswith("\n")}
        before = set(numbers)

        station = station_factory(start=False)
        assert station.store.integrity_check() == "ok"
        numbers = [tx.body["number"] for tx in station.store.outbox.pending(limit=100_000)]
        # Every row authenticates (pending() decrypts each one), and the counter, the rows and
        # the serials inside the numbers agree: no row without its serial or the reverse.
        serials = sorted(int(number.split("-")[-2]) for number in numbers)
        counter = station.store.models.counter.get_by_id("petition").value
        assert serials == list(range(1, counter + 1))
        new = set(numbers) - before
        assert reported <= new, "a commit the process reported is missing"
        assert len(new - reported) <= 1  # at most the one committed but not yet printed
        station.close()

    station = station_factory()
    assert_delivered_exactly_once(station, len(numbers))
    assert sorted(p.number for p in Petition.select()) == sorted(numbers)
    assert_server_still_serves(station, len(numbers))
