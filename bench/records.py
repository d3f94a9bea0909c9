"""Master records and replicas: seeding at scale, a building's replica, offline lookups.

1. **Import**: ``N`` synthetic residents with full histories (100,000 by default) into a fresh
   SQLite server database as an administrator would: ``devtools.residents.export`` writes
   the residents file (timed apart: generation), then ``import_residents`` - what
   ``dcs-server records import`` runs - checks it whole and writes it in chunks
   (``bulk_insert`` per table, one commit per chunk, plus the change log). Baseline: the
   very same rows inserted with bare ``sqlite3`` ``executemany`` into an identical schema
   with the same pragmas and commits. The ratio compares the whole import (reading and
   checking the file included) with the bare insert alone.
2. **Replica of one building** (about 500 residents): the server reads and seals it
   (``full_update`` + ``seal_update``), the station opens, checks and stores it sealed at
   rest (``open_part`` + ``ReplicaStore.apply``). Baseline for the station: inserting the
   same number of opaque blobs of the same size with bare ``sqlite3``.
3. **Offline lookup**: ``ReplicaStore.record`` (keyed hash, select, AES-GCM open, decode)
   p50/p95 over many residents, against a bare ``sqlite3`` select of the blob by key.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import statistics
import tempfile
import time
from datetime import UTC, date, datetime
from itertools import islice
from pathlib import Path

import msgspec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from bench.common import Row, fmt
from contract import ReplicaContent
from contract.replica_seal import open_part, raw_public
from device.replica.store import ReplicaStore
from device.store import Store
from devtools.residents import export
from sync_server.db import bind, database
from sync_server.migrations import upgrade_url
from sync_server.records.changes import latest_change_id
from sync_server.records.models import RecordChange
from sync_server.records.read import building_residents
from sync_server.records.residents_file import decode_line, read_lines
from sync_server.records.residents_import import CHUNK, import_residents
from sync_server.records.residents_rows import ResidentRows
from sync_server.replicas.build import full_update, seal_update

AS_OF = date(2026, 11, 24)
RESIDENTS_PER_BUILDING = 500
#: The import reads and checks every line twice (once to refuse a bad file before anything is
#: written, once to write) and builds the rows; the bare insert does none of that.
TARGET_RATIO = 0.6

_TABLES = (
    ("insuredperson", "persons"),
    ("entitlement", "entitlements"),
    ("contribution", "contributions"),
    ("benefitpayment", "benefits"),
    ("oldagesavings", "savings"),
    ("insuranceaccount", "accounts"),
    ("populationrecord", "population"),
    ("identityaccount", "identities"),
    ("identityaccount", "child_identities"),
)


def _raw_connection(path: Path, schema: list[str]) -> sqlite3.Connection:
    conn = sqlite3.connect(path, isolation_level=None)
    for pragma in ("journal_mode=wal", "synchronous=2", "foreign_keys=1"):
        conn.execute(f"PRAGMA {pragma}")
    for statement in schema:
        conn.execute(statement)
    return conn


def _columns(conn: sqlite3.Connection, table: str) -> list[str]:
    return [row[1] for row in conn.execute(f"PRAGMA table_info({table})")]


def _raw_insert(conn: sqlite3.Connection, rows: ResidentRows, now: str, first_change: int) -> None:
    """The chunk's rows with bare executemany, in one transaction (as the import commits)."""
    conn.execute("BEGIN")
    for table, attribute in _TABLES:
        values = getattr(rows, attribute)
        if not values:
            continue
        if attribute == "accounts":
            values = [(*a, now) for a in values]
        columns = [c for c in _columns(conn, table) if c != "id"][: len(values[0])]
        marks = ", ".join("?" * len(columns))
        sql = f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks})"  # noqa: S608
        conn.executemany(sql, values)
    changes = [
        (first_change + n, cid, building, now) for n, (cid, building) in enumerate(rows.changes)
    ]
    conn.executemany("INSERT INTO recordchange VALUES (?, ?, ?, ?)", changes)
    conn.execute("COMMIT")


def _bare_insert(raw: sqlite3.Connection, path: Path) -> float:
    """Seconds to insert the file's rows with bare ``sqlite3``, chunk by chunk as the import
    does; building the rows is not timed."""
    now = datetime.now(UTC).isoformat(" ")
    lines = read_lines(path)
    seconds, changes = 0.0, 0
    while group := list(islice(lines, CHUNK)):
        rows = ResidentRows()
        for number, data in group:
            rows.add(decode_line(data, number), present=set())
        start = time.perf_counter()
        _raw_insert(raw, rows, now, changes + 1)
        seconds += time.perf_counter() - start
        changes += len(rows.changes)
    return seconds


def bench_seed(root: Path, count: int) -> tuple[Row, dict]:
    """Generate and import ``count`` residents; returns the summary row and the timings."""
    db = bind(upgrade_url(f"sqlite:///{root / 'server.sqlite3'}"))
    schema = [
        sql
        for (sql,) in db.execute_sql(
            "SELECT sql FROM sqlite_master WHERE sql IS NOT NULL AND name NOT LIKE 'sqlite_%'"
        )
    ]
    raw = _raw_connection(root / "raw.sqlite3", schema)
    buildings = max(1, count // RESIDENTS_PER_BUILDING)
    path = root / "residents.jsonl"

    start = time.perf_counter()
    export(path, count, 2026, buildings, AS_OF)
    gen_s = time.perf_counter() - start
    start = time.perf_counter()
    counts = import_residents(path)
    import_s = time.perf_counter() - start
    raw_s = _bare_insert(raw, path)
    raw.close()

    assert counts.added == count and RecordChange.select().count() == count == latest_change_id()
    import_rate, raw_rate = counts.rows / import_s, counts.rows / raw_s
    ratio = import_rate / raw_rate
    file_mib = path.stat().st_size / 2**20
    size_mib = (root / "server.sqlite3").stat().st_size / 2**20
    print(f"records: import {count:,} residents in {buildings:,} buildings ({counts.rows:,} rows)")
    print(
        f"  generate the residents file      : {gen_s:6.1f} s  ({fmt(count / gen_s)} residents/s,"
        f" {file_mib:.0f} MiB)"
    )
    print(f"  import: check whole, then write  : {import_s:6.1f} s  ({fmt(import_rate)} rows/s)")
    print(f"  bare sqlite3 insert of the rows  : {raw_s:6.1f} s  ({fmt(raw_rate)} rows/s)")
    print(
        f"  generate + import                : {gen_s + import_s:6.1f} s,"
        f" database {size_mib:.0f} MiB"
    )
    print(f"  ratio (import / bare insert)     : {ratio:.2f}  (target >= {TARGET_RATIO})")
    row = Row(
        "records",
        f"import {count:,} residents (check + write), rows",
        import_rate,
        "rows/s",
        baseline=raw_rate,
        target=f"ratio >= {TARGET_RATIO}",
        ok=ratio >= TARGET_RATIO,
    )
    return row, {"generate_s": gen_s, "import_s": import_s, "count": count}


def bench_replica(root: Path, lookups: int) -> list[Row]:
    """Build, seal, open and store one building's replica; then look residents up."""
    building = "building-1"
    signing, station_key = Ed25519PrivateKey.generate(), X25519PrivateKey.generate()
    start = time.perf_counter()
    update = full_update(building, latest_change_id())
    parts = seal_update(
        update,
        station_id="bench-replica",
        station_public=raw_public(station_key.public_key()),
        signing_key=signing,
        as_of=datetime.now(UTC),
        request_id="0" * 32,
    )
    server_s = time.perf_counter() - start
    records = len(update.records)

    store_key = os.urandom(32)
    store = Store(root / "station.sqlite3", store_key, "bench-replica")
    replica = ReplicaStore(store, store_key)
    start = time.perf_counter()
    contents = [
        msgspec.json.decode(
            open_part(
                part,
                station_id="bench-replica",
                station_key=station_key,
                server_public=signing.public_key(),
            ),
            type=ReplicaContent,
        )
        for part in parts
    ]
    with replica.atomic():
        replica.apply(contents, full=True)
    station_s = time.perf_counter() - start
    blobs = store.db.execute_sql("SELECT lookup_key, sealed_record FROM replica_record").fetchall()
    assert len(blobs) == records

    raw = sqlite3.connect(root / "raw-station.sqlite3", isolation_level=None)
    for pragma in ("journal_mode=wal", "synchronous=2"):
        raw.execute(f"PRAGMA {pragma}")
    raw.execute("CREATE TABLE blob (k BLOB PRIMARY KEY, v BLOB NOT NULL) WITHOUT ROWID")
    start = time.perf_counter()
    raw.execute("BEGIN")
    raw.executemany("INSERT INTO blob VALUES (?, ?)", blobs)
    raw.execute("COMMIT")
    raw_s = time.perf_counter() - start

    ids = building_residents(building)
    picks = [ids[n % len(ids)] for n in range(lookups)]
    times = []
    for cid in picks:
        start = time.perf_counter()
        found = replica.record(cid)
        times.append(time.perf_counter() - start)
        assert found is not None and found.citizen_id == cid
    keys = [replica.lookup_key(cid) for cid in picks]
    raw_times = []
    for key in keys:
        start = time.perf_counter()
        raw.execute("SELECT v FROM blob WHERE k = ?", (key,)).fetchone()
        raw_times.append(time.perf_counter() - start)
    raw.close()
    store.close()

    def pct(values: list[float], q: int) -> float:
        return statistics.quantiles(values, n=100)[q - 1] * 1000

    p50, p95 = pct(times, 50), pct(times, 95)
    raw50 = pct(raw_times, 50)
    size = sum(len(b[1]) for b in blobs) / records
    print(
        f"replica: one building, {records} residents, {len(parts)} parts, {size:.0f} B sealed each"
    )
    lines = (
        ("server: read + encode + seal", server_s),
        ("station: verify + open + store", station_s),
        ("raw sqlite3 insert of the blobs", raw_s),
    )
    for label, seconds in lines:
        print(f"  {label:32}: {seconds * 1000:7.1f} ms  ({fmt(records / seconds)} records/s)")
    print(
        f"  {'offline lookup p50 / p95':32}: {p50:.3f} / {p95:.3f} ms over {lookups}"
        f" (raw select p50 {raw50:.3f} ms)"
    )
    return [
        Row(
            "records",
            f"replica of {records} residents: server builds and seals",
            records / server_s,
            "rec/s",
        ),
        Row(
            "records",
            "replica: station verifies, opens, stores sealed",
            records / station_s,
            "rec/s",
            baseline=records / raw_s,
        ),
        Row(
            "records",
            "offline lookup from the replica, p50 (p95)",
            p50,
            "ms",
            baseline=raw50,
            target=f"p95 {p95:.2f} ms; kiosk offline budget 300 ms",
            ok=p95 <= 300,
        ),
    ]


def run(quick: bool = False, count: int | None = None) -> list[Row]:
    """Measure and print; returns the summary rows."""
    count = count or (10_000 if quick else 100_000)
    root = Path(tempfile.mkdtemp(prefix="dcs-bench-records-"))
    try:
        seed_row, _ = bench_seed(root, count)
        rows = [seed_row, *bench_replica(root, 500 if quick else 2000)]
    finally:
        if not database.is_closed():
            database.close()
        shutil.rmtree(root, ignore_errors=True)
    return rows


if __name__ == "__main__":
    import sys

    run(quick="--quick" in sys.argv)
