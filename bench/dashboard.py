"""The operations dashboard at fleet scale.

1. **Fleet page, 5,000 stations**: ``GET /dashboard/`` (first page of 50, presence counts,
   open alarms, the 24-hour chart) through the Flask app, logged in as operations, p50/p95
   over many renders. Baseline: the same SQL the page needs (the page of stations, the
   count, the presence counts, the open alarms, the hourly chart) with bare ``sqlite3``.
   Target: p95 ≤ 300 ms.
2. **Heartbeats from 2,000 stations**: 2,000 asyncio MQTT 5 clients on loopback (a minimal
   client written for the bench: CONNECT, PUBLISH QoS 1, read and drop PUBACKs) each send a
   heartbeat per wave to Mosquitto; the real ingest worker stores them. For each wave we
   measure how long until every station's ``last_heartbeat_at`` in the database is from that
   wave: the dashboard's view is at most (heartbeat interval + that delay) stale. Baseline:
   a bare MQTT subscriber receiving the same wave.
"""

from __future__ import annotations

import asyncio
import json
import random
import shutil
import sqlite3
import statistics
import struct
import tempfile
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bench.common import Row, fmt
from contract import Channel, Heartbeat, encode, station_topic
from contract.transport import BrokerSettings, new_client
from devtools.broker import LocalBroker
from provisioning.broker import SERVER_USER

STATIONS = 5_000
HEARTBEAT_STATIONS = 2_000
PAGE_TARGET_MS = 300.0


def _p95(values: list[float]) -> float:
    return statistics.quantiles(values, n=20)[18] if len(values) >= 20 else max(values)


# --- 1. the fleet page ----------------------------------------------------------------------


def _seed_fleet(stations: int) -> None:
    from sync_server.dashboard import alarms
    from sync_server.db import database, utc_now, write_transaction
    from sync_server.fleet.models import Station
    from sync_server.ingest.models import AppliedTransaction

    rng = random.Random(5)
    now = utc_now()
    rows = []
    for index in range(stations):
        gauges = {
            "printer_state": 2 if index % 97 == 0 else 0,
            "tamper_open": 1 if index % 211 == 0 else 0,
            "watchdog_resets": index % 3,
            "disk_free_pct": 5.0 if index % 401 == 0 else 60.0,
        }
        offline = index % 50 == 0
        rows.append(
            {
                "station_id": f"st-{index:05d}",
                "presence": "offline" if offline else "online",
                "presence_at": now - timedelta(minutes=30 if offline else 600),
                "last_seen_at": now,
                "first_seen_at": now - timedelta(days=30),
                "last_heartbeat_at": now - timedelta(seconds=rng.randrange(30)),
                "backlog": rng.randrange(40) if offline else 0,
                "oldest_undelivered_age_s": 1800.0 if offline else None,
                "software_version": "0.1.0",
                "transactions_applied": rng.randrange(5000),
                "metrics": json.dumps(gauges),
            }
        )
    with database.connection_context():
        with write_transaction():
            for start in range(0, len(rows), 500):
                Station.insert_many(rows[start : start + 500]).execute()
            tx = []
            for index in range(20_000):  # a day of traffic spread over the fleet
                received = now - timedelta(seconds=rng.randrange(24 * 3600))
                tx.append(
                    {
                        "tx_id": f"00000000-0000-7000-8000-{index:012d}",
                        "station_id": f"st-{rng.randrange(stations):05d}",
                        "seq": index,
                        "kind": "petition.filed",
                        "station_time": received - timedelta(seconds=rng.randrange(1, 20)),
                        "received_at": received,
                    }
                )
            for start in range(0, len(tx), 500):
                AppliedTransaction.insert_many(tx[start : start + 500]).execute()
        alarms.evaluate(now, alarms.thresholds())


def _raw_page(path: Path) -> None:
    """What the fleet page reads, as bare SQL."""
    connection = sqlite3.connect(path)
    try:
        connection.execute(
            "SELECT station_id, presence, presence_at, last_heartbeat_at, backlog,"
            " oldest_undelivered_age_s, software_version, transactions_applied, metrics"
            " FROM station ORDER BY station_id LIMIT 50"
        ).fetchall()
        connection.execute("SELECT count(*) FROM station").fetchone()
        connection.execute("SELECT presence, count(*) FROM station GROUP BY presence").fetchall()
        connection.execute("SELECT * FROM alarm WHERE cleared_at IS NULL").fetchall()
        connection.execute(
            "SELECT strftime('%Y-%m-%d %H:00:00', received_at) AS hour, count(*),"
            " avg((julianday(received_at) - julianday(station_time)) * 86400.0)"
            " FROM appliedtransaction WHERE received_at >= ? GROUP BY hour",
            ((datetime.now(UTC) - timedelta(hours=24)).isoformat(sep=" "),),
        ).fetchall()
    finally:
        connection.close()


def fleet_page(quick: bool) -> list[Row]:
    """p50/p95 of the fleet page with 5,000 stations against its bare SQL."""
    from sync_server import create_app
    from sync_server.db import database
    from sync_server.migrations import upgrade_url
    from tests.operator_fixtures import create_test_operator, log_in

    root = Path(tempfile.mkdtemp(prefix="dcs-bench-dash-"))
    try:
        path = root / "server.sqlite3"
        app = create_app(
            {
                "TESTING": True,
                "SECRET_KEY": "bench-dashboard-secret-0123456789abcdef",
                "DATABASE_URL": upgrade_url(f"sqlite:///{path}"),
            }
        )
        started = time.perf_counter()
        _seed_fleet(STATIONS)
        print(f"dashboard: {STATIONS:,} stations seeded in {time.perf_counter() - started:.1f} s")
        client = log_in(app.test_client(), *create_test_operator("operations"))
        renders = 20 if quick else 100
        page_ms, raw_ms = [], []
        for _ in range(3):
            assert client.get("/dashboard/").status_code == 200  # warm up
        for _ in range(renders):
            t0 = time.perf_counter()
            answer = client.get("/dashboard/")
            page_ms.append((time.perf_counter() - t0) * 1000)
            assert answer.status_code == 200
            t0 = time.perf_counter()
            _raw_page(path)
            raw_ms.append((time.perf_counter() - t0) * 1000)
        size = len(answer.data)
        database.close()
    finally:
        shutil.rmtree(root, ignore_errors=True)
    p50, p95 = statistics.median(page_ms), _p95(page_ms)
    raw95 = _p95(raw_ms)
    print(
        f"dashboard: fleet page {size / 1024:.0f} KiB, p50 {p50:.1f} ms, p95 {p95:.1f} ms;"
        f" bare SQL p95 {raw95:.1f} ms ({renders} renders)"
    )
    return [
        Row(
            "dashboard",
            f"fleet page p95 ({STATIONS:,} stations)",
            p95,
            "ms",
            baseline=raw95,
            target=f"<= {PAGE_TARGET_MS:.0f} ms",
            ok=p95 <= PAGE_TARGET_MS,
        ),
        Row("dashboard", "fleet page p50", p50, "ms", baseline=statistics.median(raw_ms)),
    ]


# --- 2. heartbeats from 2,000 stations ------------------------------------------------------


def _utf8(text: str) -> bytes:
    data = text.encode()
    return struct.pack("!H", len(data)) + data


def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte, value = value % 128, value // 128
        out.append(byte | (0x80 if value else 0))
        if not value:
            return bytes(out)


def _packet(first: int, body: bytes) -> bytes:
    return bytes([first]) + _varint(len(body)) + body


def _connect_packet(client_id: str, username: str, password: str) -> bytes:
    # MQTT 5 CONNECT: clean start, username + password, keepalive 120 s, no properties.
    header = _utf8("MQTT") + bytes([5, 0xC2]) + struct.pack("!H", 120) + b"\x00"
    return _packet(0x10, header + _utf8(client_id) + _utf8(username) + _utf8(password))


def _publish_packet(topic: str, payload: bytes, packet_id: int) -> bytes:
    # QoS 1 PUBLISH, no properties.
    return _packet(0x32, _utf8(topic) + struct.pack("!H", packet_id) + b"\x00" + payload)


class _FakeStation:
    """One simulated station: a TCP connection to the broker that sends heartbeats."""

    def __init__(self, station_id: str) -> None:
        self.station_id = station_id
        self.packet_id = 0
        self.writer: asyncio.StreamWriter | None = None
        self.reader_task: asyncio.Task | None = None

    async def connect(self, host: str, port: int, username: str, password: str) -> None:
        reader, self.writer = await asyncio.open_connection(host, port)
        self.writer.write(_connect_packet(f"bench-{self.station_id}", username, password))
        await self.writer.drain()
        first = await reader.readexactly(2)  # CONNACK: type, length (< 128), then the rest
        rest = await reader.readexactly(first[1])
        if first[0] != 0x20 or rest[1] != 0:
            raise ConnectionError(f"CONNACK refused: {rest[1]}")
        self.reader_task = asyncio.create_task(self._drain(reader))

    @staticmethod
    async def _drain(reader: asyncio.StreamReader) -> None:
        while await reader.read(4096):  # PUBACKs: not needed for the measurement
            pass

    def heartbeat(self, uptime_s: float) -> None:
        self.packet_id = self.packet_id % 65535 + 1
        beat = Heartbeat(
            station_id=self.station_id,
            station_time=datetime.now(UTC),
            uptime_s=uptime_s,
            backlog=0,
            software_version="0.1.0",
            metrics={"printer_state": 0.0, "disk_free_pct": 60.0},
        )
        topic = station_topic(self.station_id, Channel.TELEMETRY)
        assert self.writer is not None
        self.writer.write(_publish_packet(topic, encode(beat), self.packet_id))

    async def close(self) -> None:
        if self.writer is not None:
            self.writer.write(b"\xe0\x00")  # DISCONNECT
            self.writer.close()
        if self.reader_task is not None:
            self.reader_task.cancel()


def heartbeats(quick: bool) -> list[Row]:
    """Waves of heartbeats from 2,000 stations; delay until the dashboard's data has them."""
    from sync_server import broker_settings, create_app
    from sync_server.db import database
    from sync_server.fleet.models import Station
    from sync_server.ingest.worker import IngestWorker
    from sync_server.migrations import upgrade_url

    count = 500 if quick else HEARTBEAT_STATIONS
    waves = 2 if quick else 4
    root = Path(tempfile.mkdtemp(prefix="dcs-bench-beats-"))
    broker = LocalBroker()
    broker.add_user(SERVER_USER)
    broker.start()
    worker = None
    try:
        app = create_app(
            {
                "TESTING": True,
                "SECRET_KEY": "bench-heartbeats-secret-0123456789abcdef",
                "DATABASE_URL": upgrade_url(f"sqlite:///{root / 'server.sqlite3'}"),
                "MQTT_HOST": broker.host,
                "MQTT_PORT": broker.port,
                "MQTT_USERNAME": SERVER_USER,
                "MQTT_PASSWORD": broker.credentials[SERVER_USER],
            }
        )
        settings = broker_settings(app.config)
        worker = IngestWorker(database.obj, settings, worker_id="bench").start()
        received = _Counter(settings, count)
        db_delays, raw_delays = [], []

        async def run() -> None:
            stations = [_FakeStation(f"st-{index:05d}") for index in range(count)]
            password = broker.credentials[SERVER_USER]  # one account: loading, not the ACL
            for start in range(0, count, 200):
                await asyncio.gather(
                    *(
                        s.connect(broker.host, broker.port, SERVER_USER, password)
                        for s in stations[start : start + 200]
                    )
                )
            for wave in range(waves):
                received.reset()
                sent_at = datetime.now(UTC)
                t0 = time.perf_counter()
                for station in stations:
                    station.heartbeat(float(wave))
                await asyncio.gather(*(s.writer.drain() for s in stations))
                raw = await asyncio.to_thread(received.wait)
                raw_delays.append(raw - t0)
                db = await asyncio.to_thread(_wait_all_fresh, database, Station, sent_at, count)
                db_delays.append(db - t0)
                print(
                    f"dashboard: wave {wave + 1}: {count:,} heartbeats visible in the database"
                    f" after {(db - t0) * 1000:,.0f} ms (subscriber saw all after"
                    f" {(raw - t0) * 1000:,.0f} ms)"
                )
                await asyncio.sleep(1.0)
            await asyncio.gather(*(s.close() for s in stations))

        asyncio.run(run())
        received.close()
    finally:
        if worker is not None:
            worker.stop()
        broker.stop()
        shutil.rmtree(root, ignore_errors=True)
    worst, raw_worst = max(db_delays), max(raw_delays)
    return [
        Row(
            "dashboard",
            f"heartbeat wave of {count:,} visible (worst of {waves})",
            worst * 1000,
            "ms",
            baseline=raw_worst * 1000,
            target="staleness = interval + this",
        ),
        Row(
            "dashboard",
            "heartbeats stored per second",
            count / worst,
            "/s",
            baseline=count / raw_worst,
        ),
    ]


class _Counter:
    """A bare subscriber counting one wave of heartbeats: the broker-only baseline."""

    def __init__(self, settings: BrokerSettings, expected: int) -> None:
        self.expected = expected
        self.count = 0
        self.done = threading.Event()
        self.client = new_client("bench-counter", settings)
        self.client.on_message = self._on_message
        self.client.connect(settings.host, settings.port)
        self.client.subscribe("dcs/v1/stations/+/telemetry", qos=1)
        self.client.loop_start()
        time.sleep(0.5)  # the subscription in place before the first wave

    def _on_message(self, client, userdata, message) -> None:  # type: ignore[no-untyped-def]
        self.count += 1
        if self.count >= self.expected:
            self.done.set()

    def reset(self) -> None:
        self.count = 0
        self.done.clear()

    def wait(self) -> float:
        if not self.done.wait(120):
            raise TimeoutError(f"the subscriber saw {self.count} of {self.expected}")
        return time.perf_counter()

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def _wait_all_fresh(database, station_model, since: datetime, count: int) -> float:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        with database.connection_context():
            fresh = station_model.select().where(station_model.last_heartbeat_at >= since).count()
        if fresh >= count:
            return time.perf_counter()
        time.sleep(0.02)
    raise TimeoutError(f"only {fresh} of {count} stations got their heartbeat stored")


def run(quick: bool = False) -> list[Row]:
    """Both dashboard benchmarks."""
    rows = fleet_page(quick)
    rows += heartbeats(quick)
    print("dashboard: " + ", ".join(f"{r.figure} {fmt(r.value, r.unit)}" for r in rows))
    return rows
