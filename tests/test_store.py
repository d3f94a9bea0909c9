"""The station store: durable outbox, ids, encryption at rest, purge, migrations."""

from __future__ import annotations

import sqlite3
import stat
import threading
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import peewee
import pytest

from contract import AckItem, SchemaError
from device.store import (
    Store,
    create_key_file,
    is_valid_petition_number,
    load_key,
    open_store,
    petition_number,
)
from device.store.crypto import KEY_BYTES, SealedDataError, Sealer, StoreKeyError
from device.store.migrations import LATEST_VERSION, MigrationError, migrate, schema_version

PHONE = "0812345678"
CITIZEN = "0123456789016"


class FakeClock:
    def __init__(self) -> None:
        self.now = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def key_path(tmp_path: Path) -> Path:
    path = tmp_path / "secrets" / "store.key"
    create_key_file(path)
    return path


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def store(tmp_path: Path, key_path: Path, clock: FakeClock):
    with open_store(tmp_path / "data" / "store.sqlite3", key_path, "st-a", clock) as opened:
        yield opened


def file_petition(store: Store, subject: str = "broken lift") -> tuple[str, str]:
    with store.atomic():
        number = store.mint_petition_number()
        tx = store.outbox.enqueue(
            "petition.filed",
            {
                "number": number,
                "service": "general_petition",
                "phone": PHONE,
                "citizen_id": CITIZEN,
                "form": {"subject": subject},
            },
        )
    return number, tx.tx_id


def test_store_uses_wal_and_full_sync(store):
    assert store.db.execute_sql("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert store.db.execute_sql("PRAGMA synchronous").fetchone()[0] == 2


def test_enqueue_commits_and_reads_back_in_order(store):
    ids = [file_petition(store, f"subject {i}")[1] for i in range(5)]
    pending = store.outbox.pending()
    assert [tx.tx_id for tx in pending] == ids
    assert [tx.seq for tx in pending] == sorted(tx.seq for tx in pending)
    assert pending[2].body["form"] == {"subject": "subject 2"}
    assert [tx.tx_id for tx in store.outbox.pending(after_seq=pending[1].seq, limit=2)] == ids[2:4]


def test_enqueued_row_is_visible_to_another_connection_at_once(store, tmp_path):
    _, tx_id = file_petition(store)
    other = sqlite3.connect(tmp_path / "data" / "store.sqlite3")
    try:
        assert other.execute(
            "SELECT count(*) FROM outbox WHERE tx_id = ?", (tx_id,)
        ).fetchone() == (1,)
    finally:
        other.close()


def test_tx_ids_are_uuid7_in_time_order(store):
    ids = [file_petition(store)[1] for _ in range(20)]
    assert all(uuid.UUID(i).version == 7 for i in ids)
    assert ids == sorted(ids)


def test_invalid_body_is_refused_before_anything_is_written(store):
    with pytest.raises(SchemaError) as info:
        store.outbox.enqueue(
            "petition.filed", {"number": "P-ST-A-0000001-Q", "service": "x1", "phone": "123"}
        )
    assert info.value.field == "body.phone"
    assert store.outbox.backlog().pending == 0


def test_number_and_enqueue_commit_together_or_not_at_all(store):
    with pytest.raises(SchemaError), store.atomic():
        store.mint_petition_number()
        store.outbox.enqueue("petition.filed", {"number": "bad"})
    number, _ = file_petition(store)
    assert number.endswith("-0000001-" + number[-1])  # the failed attempt used no serial


def test_settle_marks_delivered_once_and_sets_rejected_aside(store):
    _, first = file_petition(store)
    _, second = file_petition(store)
    assert store.outbox.settle([AckItem(tx_id=first, outcome="applied")]) == 1
    assert store.outbox.settle([AckItem(tx_id=first, outcome="duplicate")]) == 0
    assert store.outbox.settle([AckItem(tx_id=second, outcome="rejected", reason="taken")]) == 1
    assert store.outbox.state_of(first) == "delivered"
    assert store.outbox.state_of(second) == "rejected"
    backlog = store.outbox.backlog()
    assert (backlog.pending, backlog.rejected) == (0, 1)
    assert store.outbox.pending() == []


def test_backlog_reports_oldest_pending_age(store, clock):
    file_petition(store)
    clock.now += timedelta(minutes=5)
    file_petition(store)
    backlog = store.outbox.backlog()
    assert backlog.pending == 2
    assert backlog.oldest_age_s(clock.now) == 300


def test_purge_removes_only_settled_rows_past_retention(store, clock):
    _, delivered = file_petition(store)
    _, pending = file_petition(store)
    store.outbox.settle([AckItem(tx_id=delivered, outcome="applied")])
    clock.now += timedelta(days=6)
    assert store.outbox.purge(timedelta(days=7)) == 0
    clock.now += timedelta(days=2)
    assert store.outbox.purge(timedelta(days=7)) == 1
    assert store.outbox.state_of(delivered) is None
    assert store.outbox.state_of(pending) == "pending"


def test_personal_data_is_not_in_clear_on_disk(store, tmp_path, key_path):
    file_petition(store, subject="ขอแก้ไขที่อยู่ในทะเบียนบ้าน")
    data_dir = tmp_path / "data"
    raw = b"".join(p.read_bytes() for p in data_dir.iterdir() if p.is_file())
    for secret in (PHONE, CITIZEN, "ขอแก้ไขที่อยู่".encode()):
        assert (secret.encode() if isinstance(secret, str) else secret) not in raw
    assert load_key(key_path) not in raw
    assert not any(p.suffix == ".key" for p in data_dir.iterdir())


def test_key_file_is_private_and_never_overwritten(key_path):
    assert stat.S_IMODE(key_path.stat().st_mode) == 0o600
    with pytest.raises(FileExistsError):
        create_key_file(key_path)


def test_missing_or_short_key_is_a_clear_error(tmp_path):
    with pytest.raises(StoreKeyError, match="cannot read"):
        load_key(tmp_path / "absent.key")
    short = tmp_path / "short.key"
    short.write_bytes(b"x" * 5)
    with pytest.raises(StoreKeyError, match=f"must be {KEY_BYTES} bytes"):
        load_key(short)


def test_sealed_rows_do_not_open_with_another_key_or_another_row(store, tmp_path, clock):
    file_petition(store)
    other_key = tmp_path / "other.key"
    create_key_file(other_key)
    wrong = open_store(tmp_path / "data" / "store.sqlite3", other_key, "st-a", clock)
    with wrong, pytest.raises(SealedDataError):
        wrong.outbox.pending()
    sealer = Sealer(b"k" * 32)
    blob = sealer.seal(b"secret", b"tx-1")
    with pytest.raises(SealedDataError):
        sealer.open(blob, b"tx-2")


def test_petition_numbers_are_sequential_with_a_check_character(store):
    numbers = [store.mint_petition_number() for _ in range(3)]
    assert numbers[0].startswith("P-ST-A-0000001-")
    assert numbers[2].startswith("P-ST-A-0000003-")
    assert all(is_valid_petition_number(n) for n in numbers)


def test_petition_number_check_catches_typos_and_swaps():
    number = petition_number("st-lobby-7", 1234)
    assert is_valid_petition_number(number)
    assert is_valid_petition_number(number.lower())
    typo = number.replace("1234", "1235")
    swap = number.replace("1234", "1243")
    assert not is_valid_petition_number(typo)
    assert not is_valid_petition_number(swap)
    assert not is_valid_petition_number("P-ST-A-123-X")


def test_petition_numbers_of_two_stations_never_collide(tmp_path, key_path, clock):
    with (
        open_store(tmp_path / "a.sqlite3", key_path, "st-a", clock) as a,
        open_store(tmp_path / "b.sqlite3", key_path, "st-b", clock) as b,
    ):
        numbers = {a.mint_petition_number() for _ in range(50)} | {
            b.mint_petition_number() for _ in range(50)
        }
    assert len(numbers) == 100


def test_counter_survives_reopen(tmp_path, key_path, clock):
    path = tmp_path / "store.sqlite3"
    with open_store(path, key_path, "st-a", clock) as first:
        first.mint_petition_number()
    with open_store(path, key_path, "st-a", clock) as again:
        assert again.mint_petition_number().startswith("P-ST-A-0000002-")


def test_migrations_bring_an_old_store_forward_without_losing_rows(tmp_path, key_path, clock):
    path = tmp_path / "old.sqlite3"
    db = peewee.SqliteDatabase(str(path))
    db.connect()
    migrate(db, target=1)
    assert schema_version(db) == 1
    sealed = Sealer(load_key(key_path)).seal(
        b'{"number":"P-ST-A-0000001-Q","service":"general_petition","phone":"0812345678"}',
        b"01a20cd4-2257-7420-97cf-f499ee0600bb",
    )
    db.execute_sql(
        "INSERT INTO outbox (tx_id, kind, station_time, sealed_body) VALUES (?, ?, ?, ?)",
        ("01a20cd4-2257-7420-97cf-f499ee0600bb", "petition.filed", clock.now.isoformat(), sealed),
    )
    db.close()

    with open_store(path, key_path, "st-a", clock) as store:
        assert store.schema_version == LATEST_VERSION
        [tx] = store.outbox.pending()
        assert tx.body["phone"] == PHONE
        assert store.mint_petition_number().startswith("P-ST-A-0000001-")


def test_a_store_from_newer_software_is_refused(tmp_path, key_path, clock):
    path = tmp_path / "new.sqlite3"
    db = peewee.SqliteDatabase(str(path))
    db.execute_sql(f"PRAGMA user_version = {LATEST_VERSION + 1}")
    db.close()
    with pytest.raises(MigrationError, match="newer"):
        open_store(path, key_path, "st-a", clock)


def test_close_is_safe_twice(tmp_path, key_path, clock):
    store = open_store(tmp_path / "s.sqlite3", key_path, "st-a", clock)
    store.close()
    store.close()


def test_processes_opening_a_new_store_at_once_migrate_it_once(tmp_path, key_path):
    # The demo's daemon and a CLI opened a fresh store together and both ran migration 1.
    import subprocess
    import sys

    script = (
        "import sys; from pathlib import Path; from device.store import open_store; "
        "open_store(Path(sys.argv[1]), Path(sys.argv[2]), 'st-a').close()"
    )
    for round_ in range(3):
        path = tmp_path / f"race-{round_}.sqlite3"
        procs = [
            subprocess.Popen(
                [sys.executable, "-c", script, str(path), str(key_path)], stderr=subprocess.PIPE
            )
            for _ in range(6)
        ]
        errors = [p.communicate()[1].decode() for p in procs]
        assert [p.returncode for p in procs] == [0] * 6, errors


def test_a_read_then_write_transaction_is_not_refused_by_another_threads_commit(store):
    """Two threads of one station (the replica, the receipt spool) writing the same file.

    A deferred transaction that reads, then sees another thread commit, then writes, fails
    with "database is locked" whatever the busy timeout; transactions begin IMMEDIATE so the
    second writer waits for the first instead.
    """
    other_thread: list[str] = []
    errors: list[BaseException] = []

    def file_from_another_thread() -> None:
        try:
            other_thread.append(file_petition(store, "from the spool thread")[0])
        except BaseException as exc:  # reported by the assertion below
            errors.append(exc)

    with store.atomic():
        store.db.execute_sql("SELECT count(*) FROM outbox").fetchone()
        writer = threading.Thread(target=file_from_another_thread)
        writer.start()
        writer.join(0.3)  # give it every chance to commit first, were it allowed to
        number = store.mint_petition_number()
    writer.join(10)
    assert errors == []
    assert len(other_thread) == 1 and other_thread[0] != number
    assert store.outbox.backlog().pending == 1


def test_a_newer_expand_only_store_is_used_as_is_below_its_read_floor(tmp_path, key_path, clock):
    """Rolled back from a release with one more (additive) migration, the older software
    runs on the newer file; one that raised the read floor above it is refused."""
    path = tmp_path / "newer.sqlite3"
    with open_store(path, key_path, "st-a", clock) as store:
        store.mint_petition_number()
        store.db.execute_sql("CREATE TABLE from_the_future (id INTEGER PRIMARY KEY)")
        store.db.execute_sql(f"PRAGMA user_version = {LATEST_VERSION + 1}")
    with open_store(path, key_path, "st-a", clock) as older:
        assert older.schema_version == LATEST_VERSION + 1  # not touched
        assert older.mint_petition_number().startswith("P-ST-A-0000002-")
        older.db.execute_sql(
            "UPDATE store_meta SET value = ? WHERE name = 'read_floor'", (LATEST_VERSION + 1,)
        )
    with pytest.raises(MigrationError, match="needs at least"):
        open_store(path, key_path, "st-a", clock)
