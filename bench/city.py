"""A city after an outage: thousands of stations return at once with a backlog each.

The production path on one machine: Mosquitto with TLS client certificates (one per
station, issued by the fleet CA), the server on PostgreSQL (the tests' own ``initdb``
server) with **two ingest workers** (``dcs-server ingest --no-lookups``, a shared
subscription), live lookups answered in a process of their own (``dcs-server lookup``) and
**two web workers** (gunicorn, as deployed). The stations are ``bench/city_fleet.py``: asyncio
clients that behave on the wire like ``device/sync``, ``--stations`` of them (5,000) in
``--procs`` processes.

The run:

1. every station connects (its persistent session and retained presence; not timed);
2. the broker stops (SIGTERM: it saves its sessions); each station queues ``--backlog``
   petitions (60) meanwhile; the stations keep trying to reconnect with their backoff;
3. the broker starts again, the clock starts: how long until every station is online
   (its CONNACK, and the server's presence record), until every transaction is applied on
   the server (counted in PostgreSQL) and acked back to its station exactly once, and the
   p50/p95 of live lookups issued meanwhile and of the operators' station list (the web
   API). The lookups come from 300 more stations that run the station's own link and lookup
   code in a process of their own (``bench/city_lookups.py``: a kiosk is a machine of its
   own; asked from inside the loaded fleet they measured its event loop), each at most
   twice (the server's budget allows 3 foreign lookups an hour).
   Broker, server (ingest, web, PostgreSQL) and fleet RSS and CPU are sampled.

The baseline: the same clients connecting (spread the same way) and publishing the same
messages to a bare subscriber, through the same broker, no server.

    python -m bench.city [--quick] [--stations N] [--backlog N] [--procs N]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import tempfile
import threading
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import psutil

from bench.city_legs import Leg, legs_line, lookup_legs
from bench.common import Row, RssSampler, fmt, mib, percentile, print_table
from bench.sync import (
    BIN,
    RAW_SUB,
    Backends,
    BenchError,
    Child,
    raw_settings,
    server_env,
    start_ingest,
    start_lookup,
    start_profilers,
    stop_profilers,
)
from contract import Channel, fleet_filter
from devtools.broker import LocalBroker, hand_to_mosquitto_user
from devtools.net import free_port, wait_for_port
from devtools.seed import seed_records
from provisioning.broker import SERVER_USER
from provisioning.units import BROKER_NICE, INGEST_NICE
from sync_server.db import bind, open_database

TARGET_S = 120.0
TARGET_LOOKUP_P95_S = 0.5
#: How long the broker stays down; the stations back off meanwhile.
OUTAGE_S = 5.0
#: Hang guards, not figures.
SETUP_TIMEOUT_S = 600.0
RUN_TIMEOUT_S = 900.0
RESIDENTS = 200
#: Prober stations asking the live lookups (each at most twice: the foreign-lookup budget).
PROBERS = 300


def raise_open_files() -> int:
    """Lift this process's (and its children's) open-file limit to the hard limit: the
    broker and the fleet hold one socket per station."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return hard


@dataclass
class Run:
    """The figures of one run (the city, or the baseline)."""

    online_s: float = 0.0  # the last station's CONNACK after the restart
    server_online_s: float | None = None  # the server's records say every station is online
    applied_s: float | None = None
    acked_s: float = 0.0
    applied: int = 0
    outcomes: dict[str, int] = field(default_factory=dict)
    messages: int = 0
    republished: int = 0
    connections: int = 0
    connect_failures: int = 0
    lookup_latency_s: list[float] = field(default_factory=list)
    lookup_status: dict[str, int] = field(default_factory=dict)
    #: (seconds after the restart it was asked, its status), for each lookup.
    lookup_asked_at: list[tuple[float, str]] = field(default_factory=list)
    #: What the lookup process said of its answers when it stopped.
    lookup_server: str = ""
    #: Answers that reached a prober after it had stopped waiting.
    late_replies: int = 0
    #: Each lookup's legs (:func:`lookup_legs`): to the broker, through the server, back.
    lookup_legs: list[Leg] = field(default_factory=list)
    web_latency_s: list[float] = field(default_factory=list)
    rss: RssSampler | None = None


class City:
    """The processes of one run and their working directory."""

    def __init__(
        self,
        stations: int,
        backlog: int,
        procs: int,
        backends: Backends,
        broker_nice: int = BROKER_NICE,
    ) -> None:
        self.ids = [f"c{n:05d}" for n in range(stations)]
        #: Stations that only ask live lookups, in a process of their own (city_lookups.py).
        self.probers = [f"k{n:04d}" for n in range(PROBERS)]
        self.backlog = backlog
        self.procs = procs
        self.backends = backends
        self.root = Path(tempfile.mkdtemp(prefix="dcs-bench-city-"))
        self.broker = LocalBroker(ca=backends.ca(), observers=(RAW_SUB,))
        for user in (SERVER_USER, RAW_SUB, *self.ids, *self.probers):
            self.broker.add_user(user)
        self.children: list[Child] = []
        #: The broker's nice value: as the server's units start it (``--broker-nice``).
        self.broker_nice = broker_nice

    def fresh_broker(self) -> None:
        """Start the broker with no sessions or retained messages from a previous run."""
        self.broker.stop()
        if self.broker.workdir is not None:
            data = self.broker.workdir / "data"
            shutil.rmtree(data, ignore_errors=True)
            data.mkdir()
            hand_to_mosquitto_user(data)
        self.start_broker()

    def start_broker(self) -> None:
        """Start the broker at the priority :attr:`broker_nice` asks for."""
        self.broker.start()
        if self.broker_nice:
            os.setpriority(os.PRIO_PROCESS, self.broker.process.pid, self.broker_nice)

    def spec(self, name: str, **fields: object) -> Path:
        """A JSON spec for a child: where the broker is, the certificates, and ``fields``."""
        path = self.root / f"{name}.json"
        broker = {
            "host": self.broker.host,
            "port": self.broker.port,
            "ca_file": str(self.broker.workdir / "chain.pem"),
            "cert_dir": str(self.broker.workdir / "clients"),
        }
        path.write_text(json.dumps({**broker, **fields}))
        return path

    def prober(self, citizen_ids: list[str], lookups_per_s: float) -> Child:
        """The lookup prober process, connected (prints READY)."""
        spec = self.spec(
            "probers",
            stations=self.probers,
            citizen_ids=citizen_ids,
            lookups_per_s=lookups_per_s,
        )
        child = Child(
            "probers", [str(BIN / "python"), "-m", "bench.city_lookups", str(spec)], self.root
        )
        self.children.append(child)
        expect(child, "READY", SETUP_TIMEOUT_S)
        return child

    def fleet(self, citizen_ids: list[str], lookups_per_s: float) -> list[Child]:
        """The simulated-station processes (each prints READY once its TLS contexts exist)."""
        children = []
        for number in range(self.procs):
            spec = self.spec(
                f"fleet-{number}",
                stations=self.ids[number :: self.procs],
                backlog=self.backlog,
                citizen_ids=citizen_ids,
                lookups_per_s=lookups_per_s if number == 0 else 0,
                seed=number,
            )
            child = Child(
                f"fleet-{number}",
                [str(BIN / "python"), "-m", "bench.city_fleet", str(spec)],
                self.root,
            )
            children.append(child)
        self.children += children
        for child in children:
            expect(child, "READY", SETUP_TIMEOUT_S)
        return children

    def close(self) -> None:
        """Stop every process by pid and delete the working directory."""
        for child in reversed(self.children):
            child.stop()
        self.broker.cleanup()
        shutil.rmtree(self.root, ignore_errors=True)


def expect(child: Child, word: str, timeout: float) -> str:
    """The child's next line, which must start with ``word``."""
    line = child.expect(timeout)
    if not line.startswith(word):
        raise BenchError(f"{child.name} said {line!r}, expected {word}; {child.tail()}")
    return line


def tell(children: list[Child], word: str) -> None:
    """One word to every child."""
    for child in children:
        child.send(word)


def merge(run: Run, fleet: list[Child], started: float) -> None:
    """Add the fleet processes' reports to ``run``."""
    tell(fleet, "REPORT")
    for child in fleet:
        report = child.result(120)
        run.online_s = max(run.online_s, max(report["online_at"]) - started)
        if report["done_at"]:
            run.acked_s = max(run.acked_s, max(report["done_at"]) - started)
        for name, value in report["outcomes"].items():
            run.outcomes[name] = run.outcomes.get(name, 0) + value
        for name, value in report["lookup_status"].items():
            run.lookup_status[name] = run.lookup_status.get(name, 0) + value
        run.lookup_latency_s += report["lookup_latency_s"]
        run.messages += report["messages"]
        run.republished += report["republished"]
        run.connections += report["connections"]
        run.connect_failures += report["connect_failures"]


def baseline(city: City) -> Run:
    """The same clients connecting and publishing the same messages to a bare subscriber."""
    city.fresh_broker()
    total_messages = len(city.ids)  # one batch a station: the backlog fits one message
    sub = Child(
        "raw-sub",
        [
            *(str(BIN / "python"), "-m", "bench.proc", "raw-sub"),
            *(str(raw_settings(city.broker, city.root, RAW_SUB)), fleet_filter(Channel.TX)),
            str(total_messages),
        ],
        city.root,
    )
    city.children.append(sub)
    expect(sub, "READY", 60)
    fleet = city.fleet([], 0)
    rss = sampler(city, fleet, server_pids=[sub.pid]).start()
    started = time.monotonic()
    tell(fleet, "RAW")
    for child in fleet:
        expect(child, "DONE", RUN_TIMEOUT_S)
    got = sub.result(RUN_TIMEOUT_S)
    rss.stop()
    run = Run(rss=rss)
    merge(run, fleet, started)
    run.applied = got["received"]
    run.applied_s = got["last"] - started
    tell(fleet, "STOP")
    for child in [*fleet, sub]:
        child.stop()
    return run


def sampler(city: City, fleet: list[Child], server_pids: list[int]) -> RssSampler:
    """RSS and CPU of the broker, the server's processes and the fleet."""
    return RssSampler(
        {
            "broker": [city.broker.process.pid],
            "server": server_pids,
            "fleet": [child.pid for child in fleet],
        },
        interval_s=0.5,
    )


def server_processes(children: list[Child], postgres_pid: int | None) -> list[int]:
    """Every server-side pid: ingest workers, gunicorn and its workers, PostgreSQL's."""
    pids = []
    for pid in [*(child.pid for child in children), *([postgres_pid] if postgres_pid else [])]:
        try:
            process = psutil.Process(pid)
        except psutil.Error:
            continue
        pids += [pid, *(p.pid for p in process.children(recursive=True))]
    return pids


def start_web(city: City, database_url: str) -> tuple[subprocess.Popen, str, str]:
    """gunicorn with two workers on the city's database; its URL and an API token."""
    env = {**os.environ, **server_env(city.broker, database_url)}
    token = subprocess.run(
        [str(BIN / "dcs-server"), "api-token", "create", "--name", "bench", "--scope", "all"],
        env=env,
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    port = free_port()
    env.update(DCS_BIND=f"127.0.0.1:{port}", DCS_WEB_WORKERS="2", DCS_ACCESS_LOG="/dev/null")
    root = Path(__file__).resolve().parent.parent
    with open(city.root / "web.log", "wb") as log:
        web = subprocess.Popen(
            [str(BIN / "gunicorn"), "-c", str(root / "gunicorn.conf.py")],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=city.root,
        )
    if not wait_for_port("127.0.0.1", port, attempts=600):
        web.kill()
        raise BenchError("gunicorn did not listen; see web.log")
    return web, f"http://127.0.0.1:{port}", token


class WebProbe:
    """Asks the web API for the online stations once a second, timing each answer."""

    def __init__(self, url: str, token: str) -> None:
        self._request = urllib.request.Request(  # noqa: S310 - a loopback http URL we built
            f"{url}/api/v1/stations?presence=online",
            headers={"Authorization": f"Bearer {token}"},
        )
        self.latency_s: list[float] = []
        self.online = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> WebProbe:
        """Start probing."""
        self._thread.start()
        return self

    def _run(self) -> None:
        while not self._stop.wait(1.0):
            started = time.monotonic()
            try:
                with urllib.request.urlopen(self._request, timeout=30) as response:  # noqa: S310
                    body = json.loads(response.read())
            except OSError:
                continue
            self.latency_s.append(time.monotonic() - started)
            self.online = len(body["stations"])

    def stop(self) -> None:
        """Stop probing."""
        self._stop.set()
        self._thread.join()


def city_run(city: City, lookups_per_s: float) -> Run:
    """The city after an outage (see the module's docstring)."""
    city.fresh_broker()
    database_url = city.backends.database_url("postgres", city.root)
    bind(database_url)
    seed_records(RESIDENTS)
    db = open_database(database_url)
    citizen_ids = [row[0] for row in db.execute_sql("SELECT citizen_id FROM insuredperson")]
    # Lookups in a process of their own (docs/scale.md): the ingest's backlog never holds up
    # a resident at a kiosk.
    ingest = [
        start_ingest(city.broker, city.root, database_url, str(n), lookups=False, nice=INGEST_NICE)
        for n in (1, 2)
    ]
    ingest.append(start_lookup(city.broker, city.root, database_url, "1"))
    city.children += ingest
    web, url, token = start_web(city, database_url)
    try:
        fleet = city.fleet(citizen_ids, 0)
        tell(fleet, "CONNECT")
        for child in fleet:
            expect(child, "CONNECTED", SETUP_TIMEOUT_S)
        prober = city.prober(citizen_ids, lookups_per_s)
        watch = Child(
            "watch",
            [
                *(str(BIN / "python"), "-m", "bench.proc", "watch"),
                str(raw_settings(city.broker, city.root, RAW_SUB)),
                fleet_filter(Channel.LOOKUP),
                fleet_filter(Channel.LOOKUP_REPLY),
            ],
            city.root,
        )
        city.children.append(watch)
        expect(watch, "READY", SETUP_TIMEOUT_S)
        city.broker.stop()  # the outage: sessions saved, every station cut off
        tell(fleet, "BACKLOG")
        for child in fleet:
            expect(child, "QUEUED", SETUP_TIMEOUT_S)
        time.sleep(OUTAGE_S)
        total = len(city.ids) * city.backlog
        server_pids = [*server_processes(ingest, city.backends.postgres_pid), web.pid]
        server_pids += [p.pid for p in psutil.Process(web.pid).children()]
        city.start_broker()
        started = time.monotonic()
        rss = sampler(city, fleet, server_pids).start()
        profilers = start_profilers(ingest)  # BENCH_PYSPY=DIR, as bench/sync.py
        probe = WebProbe(url, token).start()
        prober.send("GO")
        run = Run(rss=rss)
        done = 0
        while time.monotonic() - started < RUN_TIMEOUT_S:
            now = time.monotonic() - started
            applied = db.execute_sql("SELECT COUNT(*) FROM appliedtransaction").fetchone()[0]
            online = db.execute_sql(
                "SELECT COUNT(*) FROM station WHERE presence = 'online'"
            ).fetchone()[0]
            if run.server_online_s is None and online >= len(city.ids) + len(city.probers):
                run.server_online_s = now
            if run.applied_s is None and applied >= total:
                run.applied_s = now
            for child in fleet:
                while not child.lines.empty():
                    line = child.lines.get()
                    if line and line.startswith("DONE"):
                        done += 1
            if done == len(fleet) and run.applied_s is not None:
                break
            time.sleep(0.25)
        probe.stop()
        rss.stop()
        stop_profilers(profilers)
        run.applied = db.execute_sql("SELECT COUNT(*) FROM appliedtransaction").fetchone()[0]
        run.web_latency_s = probe.latency_s
        prober.send("REPORT")
        asked = prober.result(120)
        run.lookup_latency_s, run.lookup_status = asked["latency_s"], asked["status"]
        run.lookup_asked_at = [tuple(pair) for pair in asked["asked_at"]]
        run.late_replies = asked["late_replies"]
        prober.send("STOP")
        watch.send("STOP")
        run.lookup_legs = lookup_legs(asked["asks"], watch.result(120)["seen"])
        merge(run, fleet, started)
        tell(fleet, "STOP")
        lookup_server = ingest[-1]
        lookup_server.stop()
        said = lookup_server.log.read_text(errors="replace").splitlines()
        run.lookup_server = next((line for line in reversed(said) if "stopped:" in line), "")
        return run
    finally:
        web.terminate()
        web.wait(30)
        db.close()


def report(city: Run, raw: Run, stations: int, backlog: int) -> list[Row]:
    """Print the figures; the summary rows."""
    total = stations * backlog
    rss = city.rss
    exact = (
        city.applied == total
        and city.outcomes.get("applied", 0) + city.outcomes.get("duplicate", 0) == total
        and city.outcomes.get("rejected", 0) == 0
    )
    finished = max(city.applied_s or 0.0, city.acked_s)
    print(f"city: {stations:,} stations x {backlog} = {total:,} transactions after a restart")
    print(
        f"  all online          : {city.online_s:.1f} s (CONNACK); server's records"
        f" {fmt(city.server_online_s)} s; {city.connections:,} connections,"
        f" {city.connect_failures:,} failed attempts"
    )
    print(
        f"  applied / acked     : {fmt(city.applied_s)} s / {city.acked_s:.1f} s -"
        f" {city.applied:,} on the server; acks {city.outcomes}; {city.messages:,} messages,"
        f" {city.republished:,} transactions published again"
    )
    print(
        f"  live lookups        : {len(city.lookup_latency_s)} answered"
        f" {city.lookup_status}; p50 {percentile(city.lookup_latency_s, 0.5) * 1000:.0f} ms,"
        f" p95 {percentile(city.lookup_latency_s, 0.95) * 1000:.0f} ms"
    )
    if failed := [at for at, status in city.lookup_asked_at if status != "ok"]:
        buckets: dict[int, int] = {}
        for at in failed:
            buckets[int(at // 10) * 10] = buckets.get(int(at // 10) * 10, 0) + 1
        spread = ", ".join(f"{start}-{start + 10} s: {n}" for start, n in sorted(buckets.items()))
        print(
            f"  not answered, asked : {spread} after the restart;"
            f" {city.late_replies} answers came after the kiosk stopped waiting"
        )
    if city.lookup_server:
        print(f"  lookup process      : {city.lookup_server.split('stopped: ', 1)[-1]}")
    if city.lookup_legs:
        slow = [leg for leg in city.lookup_legs if leg.ended - leg.asked > TARGET_LOOKUP_P95_S]
        print(f"  lookup legs, all    : {legs_line(city.lookup_legs)}")
        over = f"{len(slow)} over {TARGET_LOOKUP_P95_S * 1000:.0f} ms"
        print(f"  lookup legs, slow   : {over}: {legs_line(slow)}")
        unseen = sum(1 for leg in slow if leg.reply_seen is None)
        passed = [leg for leg in slow if leg.status != "ok" and leg.reply_seen is not None]
        in_time = sum(1 for leg in passed if leg.reply_seen < leg.ended)
        print(
            f"  not answered        : {len(passed)} replies passed the broker, {in_time} of them"
            f" before the kiosk stopped waiting; {unseen} slow ones never seen replied"
        )
    print(
        f"  web station list    : {len(city.web_latency_s)} requests;"
        f" p50 {percentile(city.web_latency_s, 0.5) * 1000:.0f} ms,"
        f" p95 {percentile(city.web_latency_s, 0.95) * 1000:.0f} ms"
    )
    print(
        f"  baseline            : bare subscriber got {raw.applied:,} messages in"
        f" {fmt(raw.applied_s)} s (all online {raw.online_s:.1f} s)"
    )
    for role in ("broker", "server", "fleet"):
        print(
            f"  {role + ' RSS':<20}: max {mib(rss.peak(role)):.0f} MiB a process;"
            f" CPU {rss.cpu_s[role]:.1f} s (baseline {raw.rss.cpu_s[role]:.1f} s)"
        )
    if not exact:
        print("  INCOMPLETE: not every transaction was applied and acked exactly once")
    label = f"{stations:,} x {backlog}"
    return [
        Row(
            "city",
            f"{label}: all applied and acked",
            finished,
            "s",
            baseline=raw.applied_s,
            target=f"<= {TARGET_S:.0f} s",
            ok=exact and finished <= TARGET_S,
        ),
        Row("city", f"{label}: all online", city.online_s, "s", baseline=raw.online_s),
        Row(
            "city",
            f"{label}: live lookup p95",
            percentile(city.lookup_latency_s, 0.95) * 1000,
            "ms",
            target=f"<= {TARGET_LOOKUP_P95_S * 1000:.0f} ms",
            ok=bool(city.lookup_latency_s)
            and percentile(city.lookup_latency_s, 0.95) <= TARGET_LOOKUP_P95_S,
        ),
        Row("city", f"{label}: broker peak RSS", mib(rss.peak("broker")), "MiB"),
    ]


def run(
    quick: bool = False,
    stations: int | None = None,
    backlog: int = 60,
    procs: int = 2,
    lookups_per_s: float = 4.0,
    broker_nice: int = BROKER_NICE,
) -> list[Row]:
    """Baseline, then the city; returns the summary rows."""
    stations = stations or (1_000 if quick else 5_000)
    limit = raise_open_files()
    if limit < stations * 2 + 200:
        raise BenchError(f"the open-file limit ({limit}) is too low for {stations} stations")
    backends = Backends()
    city = City(stations, backlog, procs, backends, broker_nice)
    try:
        issued = time.monotonic()
        city.broker.write_config()
        print(
            f"city: {stations:,} certificates issued in {time.monotonic() - issued:.1f} s;"
            f" {procs} fleet processes; outage {OUTAGE_S:.0f} s; broker at nice {broker_nice}"
        )
        raw = baseline(city)
        result = city_run(city, lookups_per_s)
        return report(result, raw, stations, backlog)
    finally:
        city.close()
        backends.close()


def main() -> None:
    """``python -m bench.city [--quick] [--stations N] [--backlog N] [--procs N] ...``."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="1,000 stations")
    parser.add_argument("--stations", type=int, help="simulated stations (default 5,000)")
    parser.add_argument("--backlog", type=int, default=60, help="transactions each (60)")
    parser.add_argument("--procs", type=int, default=2, help="fleet processes (2)")
    parser.add_argument("--lookups", type=float, default=4.0, help="live lookups a second (4)")
    parser.add_argument(
        "--broker-nice",
        type=int,
        default=BROKER_NICE,
        help=f"the broker's nice value ({BROKER_NICE}, as the server's units run it)",
    )
    args = parser.parse_args()
    print_table(
        run(args.quick, args.stations, args.backlog, args.procs, args.lookups, args.broker_nice)
    )


if __name__ == "__main__":
    main()
