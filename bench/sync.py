"""End-to-end sync throughput: station outboxes -> Mosquitto -> ingest worker -> acks.

Every scenario gets a fresh broker (:class:`devtools.broker.LocalBroker`, default
limits), a fresh server database (SQLite) and fresh stations, each role in its own process:

* the server is the real ``dcs-server ingest`` command, configured by ``DCS_*`` variables;
* the stations are ``build_station`` with real stores, outboxes and sync agents with the
  default :class:`device.config.SyncConfig` (``bench/proc.py``), pre-filled with realistic
  petitions *before* the clock starts. Ten or fifty stations share two processes, as the
  machine has few cores; one station has a process of its own.

The clock runs from the moment the agents are told to start until every station's acks have
settled its whole outbox; then the backlog must be 0 everywhere and the server must hold
exactly as many applied transactions as were queued.

The raw baseline is a bare paho QoS 1 publisher and subscriber (two more processes, the same
client settings) through the same broker with the same payload size and no database. It runs
just before and just after the drain and the ratio uses their mean, so a change in the
machine's load during the scenario weighs on both sides.
"""

from __future__ import annotations

import argparse
import json
import os
import queue
import random
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.common import Row, RssSampler, fmt, mib, petition_body
from contract import ROOT, Transaction, encode
from device.store import create_key_file
from device.store.ids import new_tx_id
from devtools.broker import LocalBroker
from provisioning.broker import SERVER_USER
from sync_server.migrations import upgrade_url

TARGET_RATE = 5_000.0
TARGET_RATIO = 0.5
#: Outside every station's subtree, so the ingest worker's (possibly offline) persistent
#: session never gets a copy of the baseline's messages.
RAW_TOPIC = f"{ROOT}/bench/raw"
#: Hang guards for the benchmark, not figures.
READY_TIMEOUT_S = 300.0
DRAIN_TIMEOUT_S = 900.0
BIN = Path(sys.executable).parent
#: The children run in a scratch directory; they import ``bench`` from the repository.
REPO = Path(__file__).resolve().parent.parent


class BenchError(RuntimeError):
    """A benchmark process failed or did not answer in time."""


@dataclass
class Scenario:
    """``stations`` stations sharing ``total`` queued transactions, in ``procs`` processes."""

    name: str
    stations: int
    total: int
    procs: int = 1
    sync: dict[str, Any] = field(default_factory=dict)

    @property
    def label(self) -> str:
        """E.g. ``10 stations x 2,000``."""
        plural = "s" if self.stations > 1 else ""
        return f"{self.stations} station{plural} x {self.total // self.stations:,}"


@dataclass
class Outcome:
    """What one scenario measured."""

    scenario: Scenario
    raw_rates: tuple[float, float]  # before and after the drain, messages per second
    drain_s: float
    published: int
    applied: int
    pending: int
    prefill_s: float
    rss: RssSampler

    @property
    def rate(self) -> float:
        """Transactions applied (and acked) per second, end to end."""
        return self.applied / self.drain_s if self.drain_s else 0.0

    @property
    def raw_rate(self) -> float:
        """The baseline: the mean of the two raw runs."""
        return sum(self.raw_rates) / len(self.raw_rates)

    @property
    def complete(self) -> bool:
        """Every transaction applied once and settled on its station."""
        return self.pending == 0 and self.applied == self.scenario.total


class Child:
    """A benchmark subprocess that speaks one line at a time on stdin/stdout."""

    def __init__(
        self, name: str, args: list[str], workdir: Path, env: dict[str, str] | None = None
    ) -> None:
        self.name = name
        self.log = workdir / f"{name}.log"
        with open(self.log, "wb") as log:
            self.proc = subprocess.Popen(
                args,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=log,
                text=True,
                env={**os.environ, "PYTHONPATH": str(REPO), **(env or {})},
                cwd=workdir,
            )
        self.lines: queue.Queue[str | None] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        for line in self.proc.stdout:
            self.lines.put(line.rstrip("\n"))
        self.lines.put(None)

    @property
    def pid(self) -> int:
        """The process id."""
        return self.proc.pid

    def expect(self, timeout: float) -> str:
        """The next line the child prints; raises when it dies or says nothing in time."""
        try:
            line = self.lines.get(timeout=timeout)
        except queue.Empty:
            raise BenchError(
                f"{self.name} said nothing for {timeout:.0f} s; {self.tail()}"
            ) from None
        if line is None:
            self.proc.wait()
            raise BenchError(f"{self.name} exited ({self.proc.returncode}); {self.tail()}")
        return line

    def result(self, timeout: float) -> dict[str, Any]:
        """The next line, parsed as JSON."""
        return json.loads(self.expect(timeout))

    def send(self, word: str) -> None:
        """One line to the child."""
        self.proc.stdin.write(word + "\n")
        self.proc.stdin.flush()

    def tail(self, lines: int = 15) -> str:
        """The end of its log, for error messages."""
        try:
            text = self.log.read_text(errors="replace").splitlines()[-lines:]
        except OSError:
            return "no log"
        return f"log {self.log}:\n" + "\n".join(text)

    def stop(self, timeout: float = 30.0) -> None:
        """SIGTERM by pid, then SIGKILL if it does not go; safe twice."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def payload_size() -> int:
    """Bytes of one encoded transaction as the drainer publishes it."""
    station_id = "f50-000"
    tx = Transaction(
        tx_id=new_tx_id(),
        station_id=station_id,
        seq=12_345,
        kind="petition.filed",
        station_time=datetime.now(UTC),
        body=petition_body(station_id, 12_345, random.Random(0)),
    )
    return len(encode(tx))


def _bench_proc(*args: object) -> list[str]:
    return [sys.executable, "-m", "bench.proc", *map(str, args)]


def raw_baseline(broker: LocalBroker, workdir: Path, count: int, size: int) -> float:
    """Messages per second from a bare paho publisher to a bare subscriber via ``broker``."""
    login = (broker.host, broker.port, SERVER_USER, broker.credentials[SERVER_USER], RAW_TOPIC)
    sub = Child("raw-sub", _bench_proc("raw-sub", *login, count), workdir)
    pub = Child("raw-pub", _bench_proc("raw-pub", *login, count, size), workdir)
    try:
        sub.expect(60)
        pub.expect(60)
        pub.send("GO")
        sent = pub.result(DRAIN_TIMEOUT_S)
        got = sub.result(DRAIN_TIMEOUT_S)
    finally:
        pub.stop()
        sub.stop()
    if got["received"] < count:
        raise BenchError(f"raw baseline: {got['received']} of {count} messages arrived")
    return count / (got["last"] - sent["started"])


def start_ingest(broker: LocalBroker, workdir: Path) -> tuple[Child, Path]:
    """``dcs-server ingest`` on a fresh SQLite database; returns it and the database path."""
    db_path = workdir / "server.sqlite3"
    env = {
        "DCS_SECRET_KEY": "bench-only-secret-0123456789abcdef-ghij",
        "DCS_DATABASE_URL": upgrade_url(f"sqlite:///{db_path}"),
        "DCS_MQTT_HOST": broker.host,
        "DCS_MQTT_PORT": str(broker.port),
        "DCS_MQTT_USERNAME": SERVER_USER,
        # JSON-quoted: Flask parses DCS_* values as JSON, and a password could look like one.
        "DCS_MQTT_PASSWORD": json.dumps(broker.credentials[SERVER_USER]),
    }
    server = Child("ingest", [str(BIN / "dcs-server"), "ingest", "--worker-id", "1"], workdir, env)
    deadline = time.monotonic() + 60
    while "ingest worker connected" not in server.log.read_text(errors="replace"):
        if server.proc.poll() is not None or time.monotonic() > deadline:
            server.stop()
            raise BenchError(f"the ingest worker did not connect; {server.tail()}")
        time.sleep(0.05)
    return server, db_path


def station_config(root: Path, broker: LocalBroker, station_id: str, sync: dict) -> dict:
    """A station's config as a mapping; writes its secrets (broker password, store key)."""
    secrets_dir = root / station_id / "secrets"
    secrets_dir.mkdir(parents=True)
    (secrets_dir / "broker.password").write_text(broker.credentials[station_id])
    create_key_file(secrets_dir / "store.key")
    return {
        "station_id": station_id,
        "data_dir": str(root / station_id / "data"),
        "secrets_dir": str(secrets_dir),
        "broker": {"host": broker.host, "port": broker.port, "password_file": "broker.password"},
        "sync": sync,
    }


def start_stations(
    scenario: Scenario, broker: LocalBroker, root: Path, ids: list[str]
) -> list[Child]:
    """The station processes, each pre-filling its stores; they wait for ``GO``."""
    per_station = [scenario.total // scenario.stations] * scenario.stations
    per_station[0] += scenario.total - sum(per_station)
    configs = [station_config(root, broker, sid, scenario.sync) for sid in ids]
    children = []
    for number in range(scenario.procs):
        group = range(number, scenario.stations, scenario.procs)
        spec = root / f"stations-{number}.json"
        spec.write_text(
            json.dumps(
                {
                    "configs": [configs[i] for i in group],
                    "counts": [per_station[i] for i in group],
                    "seed": number,
                }
            )
        )
        children.append(Child(f"stations-{number}", _bench_proc("stations", spec), root))
    return children


def start_profilers(children: list[Child]) -> list[subprocess.Popen]:
    """With ``BENCH_PYSPY=DIR``, sample each child with py-spy during the drain.

    Only the threads holding the GIL are sampled (``--gil``): where the CPU goes. The output
    is py-spy's collapsed stacks, ``DIR/<child>.txt``. A tool for finding the bottleneck
    (``pip install py-spy``), off by default: it perturbs the figures.
    """
    out = os.environ.get("BENCH_PYSPY")
    if not out:
        return []
    Path(out).mkdir(parents=True, exist_ok=True)
    return [
        subprocess.Popen(
            [
                *(str(BIN / "py-spy"), "record", "--pid", str(child.pid), "--rate", "250"),
                *("--gil", "--format", "raw", "--output", str(Path(out) / f"{child.name}.txt")),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for child in children
    ]


def stop_profilers(profilers: list[subprocess.Popen]) -> None:
    """Stop the py-spy samplers by pid (SIGINT makes them write their output)."""
    for profiler in profilers:
        profiler.send_signal(signal.SIGINT)
    for profiler in profilers:
        profiler.wait(60)


def server_count(db_path: Path) -> int:
    """Applied transactions on record (read-only: WAL lets us read beside the worker)."""
    with sqlite3.connect(f"file:{db_path}?mode=ro", uri=True) as conn:
        return conn.execute("SELECT COUNT(*) FROM appliedtransaction").fetchone()[0]


def run_scenario(scenario: Scenario, raw_count: int, size: int) -> Outcome:
    """Set up, measure and tear down one scenario."""
    root = Path(tempfile.mkdtemp(prefix=f"dcs-bench-{scenario.name}-"))
    ids = [f"{scenario.name}-{index:03d}" for index in range(scenario.stations)]
    broker = LocalBroker()
    for user in (SERVER_USER, *ids):
        broker.add_user(user)
    children: list[Child] = []
    try:
        broker.start()
        raw_before = raw_baseline(broker, root, raw_count, size)
        server, db_path = start_ingest(broker, root)
        children.append(server)
        prefill_started = time.monotonic()
        stations = start_stations(scenario, broker, root, ids)
        children += stations
        for child in stations:
            if (line := child.expect(READY_TIMEOUT_S)) != "READY":
                raise BenchError(f"{child.name}: {line}")
        prefill_s = time.monotonic() - prefill_started

        profilers = start_profilers([server, *stations])
        rss = RssSampler(
            {
                "station": [c.pid for c in stations],
                "server": [server.pid],
                "broker": [broker.process.pid],
            },
            interval_s=0.1,
        ).start()
        started = time.monotonic()
        for child in stations:
            child.send("GO")
        results = [child.result(DRAIN_TIMEOUT_S) for child in stations]
        rss.stop()
        stop_profilers(profilers)
        drain_s = max(r["done"] for r in results) - started
        applied = server_count(db_path)
        for child in stations:
            child.send("STOP")
        for child in stations:
            child.proc.wait(60)
        server.stop()
        raw_after = raw_baseline(broker, root, raw_count, size)
        return Outcome(
            scenario=scenario,
            raw_rates=(raw_before, raw_after),
            drain_s=drain_s,
            published=sum(r["published"] for r in results),
            applied=applied,
            pending=sum(r["pending"] for r in results),
            prefill_s=prefill_s,
            rss=rss,
        )
    finally:
        for child in reversed(children):
            child.stop()
        broker.cleanup()
        if os.environ.get("BENCH_KEEP"):
            print(f"  (kept {root})")
        else:
            shutil.rmtree(root, ignore_errors=True)


def _timeline(samples: list[int], points: int = 8) -> str:
    """A few RSS samples spread over the drain, in MiB."""
    if not samples:
        return "-"
    step = max(1, (len(samples) - 1) / (points - 1))
    picked = sorted({round(i * step) for i in range(points) if round(i * step) < len(samples)})
    return " ".join(f"{mib(samples[i]):.0f}" for i in picked)


def report(outcome: Outcome) -> list[Row]:
    """Print one scenario's figures; returns its summary rows."""
    s, rss = outcome.scenario, outcome.rss
    ratio = outcome.rate / outcome.raw_rate
    procs = f"{s.procs} station process{'es' if s.procs > 1 else ''}"
    print(f"sync [{s.name}] {s.label} = {s.total:,} transactions ({procs})")
    print(f"  prefill (not timed) : {outcome.prefill_s:.1f} s")
    print(
        f"  drain               : {outcome.drain_s:.2f} s = {fmt(outcome.rate)} tx/s applied"
        f" ({outcome.published:,} published, {outcome.applied:,} on the server,"
        f" {outcome.pending} pending)"
    )
    before, after = outcome.raw_rates
    print(
        f"  raw paho QoS 1      : {fmt(outcome.raw_rate)} msg/s (before {fmt(before)},"
        f" after {fmt(after)})   ratio {ratio:.2f}"
    )
    for role in ("station", "server", "broker"):
        cpu = rss.cpu_s[role]
        print(
            f"  {role + ' RSS':<20}: min {mib(rss.low(role)):.0f} MiB,"
            f" max {mib(rss.peak(role)):.0f} MiB ({len(rss.samples[role])} samples);"
            f" CPU {cpu:.1f} s = {cpu / s.total * 1e6:.0f} us/tx"
        )
    if s.total >= 50_000:
        for role in ("station", "server"):
            print(f"  {role:<7} RSS (MiB) over the drain: {_timeline(rss.samples[role])}")
    if not outcome.complete:
        print("  INCOMPLETE: the drain did not deliver everything exactly once")
    return [
        Row(
            "sync",
            f"{s.label}: applied",
            outcome.rate,
            "tx/s",
            baseline=outcome.raw_rate,
            target=f">= {TARGET_RATE:,.0f}, ratio >= {TARGET_RATIO}",
            ok=outcome.complete and outcome.rate >= TARGET_RATE and ratio >= TARGET_RATIO,
        ),
        Row("sync", f"{s.label}: drain", outcome.drain_s, "s", ok=outcome.complete),
        Row("sync", f"{s.label}: peak RSS station proc", mib(rss.peak("station")), "MiB"),
        Row("sync", f"{s.label}: peak RSS server", mib(rss.peak("server")), "MiB"),
    ]


def scenarios(quick: bool, procs: int | None = None, **sync: Any) -> list[Scenario]:
    """The fleet sizes to run; ``--quick`` shrinks the totals."""
    total, big = (5_000, 20_000) if quick else (20_000, 100_000)
    fleet_procs = procs or 2
    return [
        Scenario("f1", 1, total, sync=sync),
        Scenario("f10", 10, total, procs=fleet_procs, sync=sync),
        Scenario("f50", 50, total, procs=fleet_procs, sync=sync),
        Scenario("big", 1, big, sync=sync),
    ]


def run(
    quick: bool = False, only: list[str] | None = None, procs: int | None = None, **sync: Any
) -> list[Row]:
    """Run the scenarios (all, or those named in ``only``); returns the summary rows."""
    size = payload_size()
    raw_count = 5_000 if quick else 20_000
    settings = ", ".join(f"{k}={v}" for k, v in sync.items()) or "defaults"
    print(
        f"sync: payload {size} B per transaction; raw baseline {raw_count:,} messages;"
        f" agents' SyncConfig: {settings}"
    )
    rows: list[Row] = []
    for scenario in scenarios(quick, procs, **sync):
        if only and scenario.name not in only:
            continue
        rows += report(run_scenario(scenario, raw_count, size))
    return rows


def main() -> None:
    """``python -m bench.sync [--quick] [--only f1,big] [--window N] [--procs N]``."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller totals")
    parser.add_argument("--only", help="comma-separated scenario names: f1, f10, f50, big")
    parser.add_argument("--window", type=int, help="the agents' window (default: SyncConfig's)")
    parser.add_argument("--procs", type=int, help="station processes for the fleets (default 2)")
    args = parser.parse_args()
    sync = {"window": args.window} if args.window else {}
    run(args.quick, args.only.split(",") if args.only else None, args.procs, **sync)


if __name__ == "__main__":
    main()
