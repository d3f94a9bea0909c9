"""End-to-end sync throughput: station outboxes -> broker -> ingest worker -> acks.

Every scenario gets a fresh broker (:class:`devtools.broker.LocalBroker`, default limits), a
fresh server database and fresh stations, each role in its own process, on each **path**:

* ``plain-sqlite``: password accounts, SQLite (the demo's embedded defaults);
* ``tls-sqlite``: TLS with a client certificate per station and per server process, as
  deployed (``require_certificate``, the certificate's name as identity and client id);
* ``tls-postgres``: the same broker, the server on PostgreSQL (the tests' own ``initdb``
  server, devtools/postgres.py): the production path of a fleet.

The server is the real ``dcs-server ingest`` command, configured by ``DCS_*`` variables; the
stations are ``build_station`` with real stores, outboxes and sync agents with the default
:class:`device.config.SyncConfig` (``bench/proc.py``), pre-filled with realistic petitions
*before* the clock starts. Ten or fifty stations share two processes, as the machine has few
cores; one station has a process of its own.

The clock runs from the moment the agents are told to start until every station's acks have
settled its whole outbox; then the backlog must be 0 everywhere and the server must hold
exactly as many applied transactions as were queued.

The raw baseline is a bare paho QoS 1 publisher and subscriber (two more processes, the same
client settings and the same kind of authentication) through the same broker, one message
per transaction of the same size, no database. It runs just before and just after the drain
and the ratio uses their mean, so a change in the machine's load weighs on both sides.
Stations batch transactions (``SyncConfig.batch``): the ratio can pass 1.
"""

from __future__ import annotations

import argparse
import json
import os
import queue
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psutil

from bench.common import Row, RssSampler, fmt, mib, petition_body
from contract import ROOT, Transaction, encode
from device.store import create_key_file
from device.store.ids import new_tx_id
from devtools.broker import LocalBroker
from devtools.postgres import PostgresServer
from provisioning.broker import SERVER_USER
from provisioning.pki import CertificateAuthority
from sync_server.db import open_database
from sync_server.migrations import upgrade_url

TARGET_RATE = 5_000.0
TARGET_RATIO = 0.8
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
    path: Path_
    raw_rates: tuple[float, float]  # before and after the drain, messages per second
    drain_s: float
    published: int
    messages: int
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


RAW_PUB, RAW_SUB = "bench-raw-pub", "bench-raw-sub"


def raw_settings(broker: LocalBroker, workdir: Path, identity: str) -> Path:
    """A JSON file of the connection settings of ``identity`` for bench/proc.py."""
    settings = broker.settings_for(identity)
    path = workdir / f"{identity}.json"
    path.write_text(
        json.dumps(
            {
                "client_id": identity,
                "host": settings.host,
                "port": settings.port,
                "username": settings.username,
                "password": settings.password,
                "ca_file": str(settings.ca_file or ""),
                "cert_file": str(settings.cert_file or ""),
                "key_file": str(settings.key_file or ""),
            }
        )
    )
    return path


def raw_baseline(broker: LocalBroker, workdir: Path, count: int, size: int) -> float:
    """Messages per second from a bare paho publisher to a bare subscriber via ``broker``
    (with the stations' kind of authentication: a password or a TLS client certificate)."""
    sub_settings = raw_settings(broker, workdir, RAW_SUB)
    pub_settings = raw_settings(broker, workdir, RAW_PUB)
    sub = Child("raw-sub", _bench_proc("raw-sub", sub_settings, RAW_TOPIC, count), workdir)
    pub = Child("raw-pub", _bench_proc("raw-pub", pub_settings, RAW_TOPIC, count, size), workdir)
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


def server_env(broker: LocalBroker, database_url: str) -> dict[str, str]:
    """The ``DCS_*`` variables of a server process on ``broker`` and ``database_url``."""
    entries = {
        "SECRET_KEY": "bench-only-secret-0123456789abcdef-ghij",
        "DATABASE_URL": database_url,
        **broker.server_config(),
    }
    # JSON-encoded: Flask parses DCS_* values as JSON, and a password could look like one.
    return {f"DCS_{key}": json.dumps(value) for key, value in entries.items()}


def start_ingest(
    broker: LocalBroker,
    workdir: Path,
    database_url: str,
    worker_id: str = "1",
    lookups: bool = True,
    nice: int = 0,
) -> Child:
    """``dcs-server ingest`` on ``database_url`` (already at the current schema), at the
    scheduling priority ``nice`` (the server's units run it at ``INGEST_NICE``)."""
    command = ["ingest", "--worker-id", worker_id] + ([] if lookups else ["--no-lookups"])
    return _start_server(
        broker, workdir, database_url, command, "ingest worker connected", nice=nice
    )


def start_lookup(broker: LocalBroker, workdir: Path, database_url: str, worker_id: str) -> Child:
    """``dcs-server lookup``: live lookups in a process of their own."""
    command = ["lookup", "--worker-id", worker_id]
    return _start_server(broker, workdir, database_url, command, "lookup connection up")


def _start_server(
    broker: LocalBroker,
    workdir: Path,
    database_url: str,
    command: list[str],
    ready: str,
    nice: int = 0,
) -> Child:
    name = f"{command[0]}-{command[2]}"
    niced = ["nice", "-n", str(nice)] if nice else []  # nice execs: the pid stays the server's
    server = Child(
        name,
        [*niced, str(BIN / "dcs-server"), *command],
        workdir,
        server_env(broker, database_url),
    )
    deadline = time.monotonic() + 60
    while ready not in server.log.read_text(errors="replace"):
        if server.proc.poll() is not None or time.monotonic() > deadline:
            server.stop()
            raise BenchError(f"{name} did not connect; {server.tail()}")
        time.sleep(0.05)
    return server


def station_config(root: Path, broker: LocalBroker, station_id: str, sync: dict) -> dict:
    """A station's config as a mapping; writes its secrets (broker credential, store key)."""
    secrets_dir = root / station_id / "secrets"
    secrets_dir.mkdir(parents=True)
    create_key_file(secrets_dir / "store.key")
    return {
        "station_id": station_id,
        "data_dir": str(root / station_id / "data"),
        "secrets_dir": str(secrets_dir),
        "broker": broker.station_broker(station_id, secrets_dir),
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


def database_pids(postmaster: int | None) -> list[int]:
    """PostgreSQL's processes: the postmaster and every backend and helper it runs."""
    if postmaster is None:
        return []
    main = psutil.Process(postmaster)
    return [main.pid, *(child.pid for child in main.children())]


def server_count(database_url: str) -> int:
    """Applied transactions on record (read beside the worker: WAL or MVCC)."""
    db = open_database(database_url)
    try:
        return db.execute_sql("SELECT COUNT(*) FROM appliedtransaction").fetchone()[0]
    finally:
        db.close()


@dataclass(frozen=True)
class Path_:
    """The production path a scenario runs on: the broker's authentication and the database."""

    tls: bool
    database: str  # "sqlite" or "postgres"

    @property
    def label(self) -> str:
        """E.g. ``TLS + PostgreSQL``."""
        broker = "TLS client certs" if self.tls else "passwords"
        return f"{broker} + {'PostgreSQL' if self.database == 'postgres' else 'SQLite'}"


PATHS = {
    "plain-sqlite": Path_(tls=False, database="sqlite"),
    "tls-sqlite": Path_(tls=True, database="sqlite"),
    "tls-postgres": Path_(tls=True, database="postgres"),
}


class Backends:
    """The certificate authority and the PostgreSQL server a run's scenarios share."""

    def __init__(self) -> None:
        self._root = Path(tempfile.mkdtemp(prefix="dcs-bench-backends-"))
        self._ca: CertificateAuthority | None = None
        self._postgres: PostgresServer | None = None

    def ca(self) -> CertificateAuthority:
        """The fleet CA the TLS brokers trust (made on first use)."""
        if self._ca is None:
            self._ca = CertificateAuthority.init(self._root / "ca", b"bench-only-ca-passphrase")
        return self._ca

    def database_url(self, database: str, workdir: Path) -> str:
        """A fresh server database (``sqlite`` or ``postgres``) at the current schema."""
        if database == "sqlite":
            return upgrade_url(f"sqlite:///{workdir / 'server.sqlite3'}")
        if self._postgres is None:
            self._postgres = PostgresServer().start()
        return upgrade_url(self._postgres.new_database())

    @property
    def postgres_pid(self) -> int | None:
        """The postmaster's pid, once PostgreSQL runs."""
        return self._postgres.pid if self._postgres is not None else None

    def broker(self, path: Path_) -> LocalBroker:
        """A fresh broker for ``path`` (not started), with the raw baseline's two accounts."""
        broker = LocalBroker(ca=self.ca() if path.tls else None, observers=(RAW_PUB, RAW_SUB))
        for user in (SERVER_USER, RAW_PUB, RAW_SUB):
            broker.add_user(user)
        return broker

    def close(self) -> None:
        """Stop PostgreSQL (by pid) and delete the CA."""
        if self._postgres is not None:
            self._postgres.stop()
        shutil.rmtree(self._root, ignore_errors=True)


def run_scenario(
    scenario: Scenario, path: Path_, backends: Backends, raw_count: int, size: int
) -> Outcome:
    """Set up, measure and tear down one scenario."""
    root = Path(tempfile.mkdtemp(prefix=f"dcs-bench-{scenario.name}-"))
    ids = [f"{scenario.name}-{index:03d}" for index in range(scenario.stations)]
    broker = backends.broker(path)
    for user in ids:
        broker.add_user(user)
    children: list[Child] = []
    try:
        broker.start()
        raw_before = raw_baseline(broker, root, raw_count, size)
        database_url = backends.database_url(path.database, root)
        server = start_ingest(broker, root, database_url)
        children.append(server)
        prefill_started = time.monotonic()
        stations = start_stations(scenario, broker, root, ids)
        children += stations
        for child in stations:
            if (line := child.expect(READY_TIMEOUT_S)) != "READY":
                raise BenchError(f"{child.name}: {line}")
        prefill_s = time.monotonic() - prefill_started

        profilers = start_profilers([server, *stations])
        roles = {
            "station": [c.pid for c in stations],
            "server": [server.pid],
            "broker": [broker.process.pid],
        }
        if path.database == "postgres":
            roles["database"] = database_pids(backends.postgres_pid)
        rss = RssSampler(roles, interval_s=0.1).start()
        started = time.monotonic()
        for child in stations:
            child.send("GO")
        results = [child.result(DRAIN_TIMEOUT_S) for child in stations]
        rss.stop()
        stop_profilers(profilers)
        drain_s = max(r["done"] for r in results) - started
        applied = server_count(database_url)
        for child in stations:
            child.send("STOP")
        for child in stations:
            child.proc.wait(60)
        server.stop()
        raw_after = raw_baseline(broker, root, raw_count, size)
        return Outcome(
            scenario=scenario,
            path=path,
            raw_rates=(raw_before, raw_after),
            drain_s=drain_s,
            published=sum(r["published"] for r in results),
            messages=sum(r["messages"] for r in results),
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
    s, rss, path = outcome.scenario, outcome.rss, outcome.path
    ratio = outcome.rate / outcome.raw_rate
    procs = f"{s.procs} station process{'es' if s.procs > 1 else ''}"
    print(f"sync [{s.name}, {path.label}] {s.label} = {s.total:,} transactions ({procs})")
    print(f"  prefill (not timed) : {outcome.prefill_s:.1f} s")
    per_message = outcome.published / outcome.messages if outcome.messages else 0
    print(
        f"  drain               : {outcome.drain_s:.2f} s = {fmt(outcome.rate)} tx/s applied"
        f" ({outcome.published:,} published in {outcome.messages:,} messages,"
        f" {per_message:.0f} a message; {outcome.applied:,} on the server,"
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
    if "database" in rss.cpu_s:
        # Its processes share memory: their RSS adds up to nothing meaningful.
        cpu = rss.cpu_s["database"]
        print(
            f"  {'database CPU':<20}: {cpu:.1f} s = {cpu / s.total * 1e6:.0f} us/tx (all backends)"
        )
    if s.total >= 50_000:
        for role in ("station", "server"):
            print(f"  {role:<7} RSS (MiB) over the drain: {_timeline(rss.samples[role])}")
    if not outcome.complete:
        print("  INCOMPLETE: the drain did not deliver everything exactly once")
    name = f"{s.label}, {path.label}"
    return [
        Row(
            "sync",
            f"{name}: applied",
            outcome.rate,
            "tx/s",
            baseline=outcome.raw_rate,
            target=f">= {TARGET_RATE:,.0f}, ratio >= {TARGET_RATIO}",
            ok=outcome.complete and outcome.rate >= TARGET_RATE and ratio >= TARGET_RATIO,
        ),
        Row("sync", f"{name}: drain", outcome.drain_s, "s", ok=outcome.complete),
        Row("sync", f"{name}: peak RSS station proc", mib(rss.peak("station")), "MiB"),
        Row("sync", f"{name}: peak RSS server", mib(rss.peak("server")), "MiB"),
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


#: The long drain (memory over 100,000 transactions) runs on the first path only.
_ONCE = {"big"}


def run(
    quick: bool = False,
    only: list[str] | None = None,
    procs: int | None = None,
    paths: list[str] | None = None,
    **sync: Any,
) -> list[Row]:
    """Run the scenarios (all, or those named in ``only``) on each path; the summary rows."""
    size = payload_size()
    raw_count = 5_000 if quick else 20_000
    settings = ", ".join(f"{k}={v}" for k, v in sync.items()) or "defaults"
    chosen = paths or list(PATHS)
    print(
        f"sync: payload {size} B per transaction; raw baseline {raw_count:,} messages;"
        f" agents' SyncConfig: {settings}; paths: {', '.join(chosen)}"
    )
    rows: list[Row] = []
    backends = Backends()
    try:
        for number, key in enumerate(chosen):
            for scenario in scenarios(quick, procs, **sync):
                if only and scenario.name not in only:
                    continue
                if not only and number > 0 and scenario.name in _ONCE:
                    continue
                rows += report(run_scenario(scenario, PATHS[key], backends, raw_count, size))
    finally:
        backends.close()
    return rows


def main() -> None:
    """``python -m bench.sync [--quick] [--only f1,big] [--paths tls-postgres] [--window N]
    [--batch N] [--procs N]``."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller totals")
    parser.add_argument("--only", help="comma-separated scenario names: f1, f10, f50, big")
    parser.add_argument("--paths", help=f"comma-separated: {', '.join(PATHS)} (default: all)")
    parser.add_argument("--window", type=int, help="the agents' window (default: SyncConfig's)")
    parser.add_argument("--batch", type=int, help="transactions a message (default: SyncConfig's)")
    parser.add_argument("--procs", type=int, help="station processes for the fleets (default 2)")
    args = parser.parse_args()
    sync = {"window": args.window} if args.window else {}
    if args.batch:
        sync["batch"] = args.batch
    run(
        args.quick,
        args.only.split(",") if args.only else None,
        args.procs,
        args.paths.split(",") if args.paths else None,
        **sync,
    )


if __name__ == "__main__":
    main()
