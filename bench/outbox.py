"""Durable enqueues per second through the station store vs raw ``sqlite3`` inserts.

Both sides commit every row on its own with ``journal_mode=WAL`` and ``synchronous=FULL``
into the same table (the outbox's own schema, so index upkeep is the same), in the same
directory. The store's side also validates the body against the contract, mints a UUIDv7 and
seals the body with AES-GCM: the ratio is what all that costs over the bare durable insert.

Rounds alternate raw and store runs so that a drift in the disk's fsync latency during the
run falls on both sides alike.
"""

from __future__ import annotations

import os
import random
import shutil
import sqlite3
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

from bench.common import Row, fmt, petition_body
from device.store import Store
from device.store.migrations import MIGRATIONS

TARGET_RATIO = 0.8
STATION_ID = "bench-outbox"


def _raw_connection(path: Path) -> sqlite3.Connection:
    """A bare connection with the store's pragmas and the outbox's schema."""
    conn = sqlite3.connect(path, isolation_level=None)  # we issue BEGIN/COMMIT ourselves
    conn.execute("PRAGMA journal_mode=wal")
    conn.execute("PRAGMA synchronous=2")
    conn.execute("PRAGMA foreign_keys=1")
    for step in MIGRATIONS:
        for statement in step:
            conn.execute(statement)
    return conn


def _raw_rows(count: int, sealed_size: int) -> list[tuple[str, str, str, bytes]]:
    """Rows of the same size as the store's, made before the clock starts."""
    blob = os.urandom(sealed_size)
    station_time = datetime.now(UTC).isoformat()
    return [(str(uuid.uuid4()), "petition.filed", station_time, blob) for _ in range(count)]


def _raw_run(conn: sqlite3.Connection, rows: list[tuple[str, str, str, bytes]]) -> float:
    """Insert ``rows`` one commit each; returns seconds."""
    sql = "INSERT INTO outbox (tx_id, kind, station_time, sealed_body) VALUES (?, ?, ?, ?)"
    start = time.perf_counter()
    for row in rows:
        conn.execute("BEGIN")
        conn.execute(sql, row)
        conn.execute("COMMIT")
    return time.perf_counter() - start


def _store_run(store: Store, bodies: list[dict]) -> float:
    """Enqueue ``bodies`` through the outbox, one durable commit each; returns seconds."""
    enqueue = store.outbox.enqueue
    start = time.perf_counter()
    for body in bodies:
        enqueue("petition.filed", body)
    return time.perf_counter() - start


def run(quick: bool = False) -> list[Row]:
    """Measure and print; returns the summary rows."""
    rounds, per_round = (6, 100) if quick else (40, 250)
    root = Path(tempfile.mkdtemp(prefix="dcs-bench-outbox-"))
    rng = random.Random(1)
    try:
        store = Store(root / "store.sqlite3", os.urandom(32), STATION_ID)
        conn = _raw_connection(root / "raw.sqlite3")
        serial = 0

        def bodies(count: int) -> list[dict]:
            nonlocal serial
            serial += count
            return [
                petition_body(STATION_ID, n, rng) for n in range(serial - count + 1, serial + 1)
            ]

        # The raw row's size is the store row's: take it from a real enqueue (and warm up).
        _store_run(store, bodies(50))
        sealed_size = max(
            len(row[0]) for row in store.db.execute_sql("SELECT sealed_body FROM outbox")
        )
        _raw_run(conn, _raw_rows(50, sealed_size))

        raw_s = store_s = 0.0
        for index in range(rounds):
            raw_rows, store_bodies = _raw_rows(per_round, sealed_size), bodies(per_round)
            if index % 2:
                store_s += _store_run(store, store_bodies)
                raw_s += _raw_run(conn, raw_rows)
            else:
                raw_s += _raw_run(conn, raw_rows)
                store_s += _store_run(store, store_bodies)
        total = rounds * per_round
        store_rate, raw_rate = total / store_s, total / raw_s
        assert store.outbox.backlog().pending == total + 50  # every enqueue really is there
        store.close()
        conn.close()
    finally:
        shutil.rmtree(root, ignore_errors=True)

    ratio = store_rate / raw_rate
    print(
        f"outbox: {total:,} durable enqueues (sealed body {sealed_size} B, WAL, synchronous=FULL,"
        f" one commit each)"
    )
    print(f"  Store.outbox.enqueue : {fmt(store_rate)} /s  ({store_s / total * 1e6:.0f} us each)")
    print(f"  raw sqlite3 insert   : {fmt(raw_rate)} /s  ({raw_s / total * 1e6:.0f} us each)")
    print(f"  ratio                : {ratio:.2f}  (target >= {TARGET_RATIO})")
    return [
        Row(
            "outbox",
            "durable enqueues",
            store_rate,
            "/s",
            baseline=raw_rate,
            target=f"ratio >= {TARGET_RATIO}",
            ok=ratio >= TARGET_RATIO,
        )
    ]


if __name__ == "__main__":
    run()
