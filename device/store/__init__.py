"""The station's local store: SQLite through peewee, WAL, ``synchronous=FULL``."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import peewee

from contract.failpoints import hit
from device.store.crypto import Sealer, create_key_file, load_key
from device.store.ids import is_valid_petition_number, new_tx_id, petition_number
from device.store.migrations import LATEST_VERSION, migrate, schema_version
from device.store.models import bind_models
from device.store.outbox import Backlog, Outbox

__all__ = [
    "LATEST_VERSION",
    "Backlog",
    "Outbox",
    "Store",
    "create_key_file",
    "is_valid_petition_number",
    "load_key",
    "new_tx_id",
    "open_store",
    "petition_number",
]

PRAGMAS = {
    "journal_mode": "wal",
    # FULL: a commit is on disk before it returns, so "done" on screen survives a power cut.
    "synchronous": 2,
    "foreign_keys": 1,
    "busy_timeout": 10_000,
}


def utc_now() -> datetime:
    """The station's clock (UTC)."""
    return datetime.now(UTC)


class Store:
    """One station's store: the outbox and durable counters over one SQLite file."""

    def __init__(
        self,
        path: Path,
        key: bytes,
        station_id: str,
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        self.db: peewee.SqliteDatabase | None = None
        self.path = Path(path)
        self.station_id = station_id
        self.path.parent.mkdir(parents=True, exist_ok=True)
        # IMMEDIATE: a transaction takes the write lock when it begins. A deferred one that
        # reads and then writes fails at once with "database is locked" if another thread
        # (the receipt spool, the replica) committed in between; busy_timeout cannot save it.
        self.db = peewee.SqliteDatabase(str(self.path), pragmas=PRAGMAS, lock_type="IMMEDIATE")
        self.db.connect()
        migrate(self.db)
        self.models = bind_models(self.db)
        #: Seals personal data at rest (the outbox, the receipt spool).
        self.sealer = Sealer(key)
        self.clock = clock
        self.outbox = Outbox(self.models, self.sealer, station_id, clock)

    @property
    def schema_version(self) -> int:
        """The schema version of the open file."""
        return schema_version(self.db)

    @contextmanager
    def atomic(self) -> Iterator[None]:
        """Group several writes into one durable commit."""
        with self.db.atomic():
            yield
        if not self.db.in_transaction():
            hit("station.after_commit")  # an enqueue inside was committed only now

    def next_serial(self, name: str) -> int:
        """Increment and return the durable counter ``name`` (starts at 1)."""
        counter = self.models.counter
        with self.db.atomic():
            counter.insert(name=name, value=1).on_conflict(
                conflict_target=[counter.name], update={counter.value: counter.value + 1}
            ).execute()
            return counter.get_by_id(name).value

    def raise_serial_floor(self, name: str, floor: int) -> int:
        """Make the counter ``name`` continue above ``floor``; it never goes down.

        A replaced station's SD card starts with an empty store: its bundle carries the
        highest serial the server had applied for it (``petition_floor``, signed by the fleet
        CA), so the next number minted is ``floor + 1`` and never one the server already has.
        Returns the counter's value afterwards.
        """
        if floor < 0:
            raise ValueError(f"a counter floor cannot be negative: {floor}")
        counter = self.models.counter
        with self.db.atomic():
            counter.insert(name=name, value=floor).on_conflict(
                conflict_target=[counter.name],
                update={
                    counter.value: peewee.Case(
                        None, [(counter.value < floor, floor)], counter.value
                    )
                },
            ).execute()
            return counter.get_by_id(name).value

    def serial(self, name: str) -> int:
        """The last value the counter ``name`` gave (0: none yet)."""
        row = self.models.counter.get_or_none(self.models.counter.name == name)
        return row.value if row is not None else 0

    def mint_petition_number(self) -> str:
        """A fleet-unique petition number; call inside :meth:`atomic` with the enqueue."""
        return petition_number(self.station_id, self.next_serial("petition"))

    def integrity_check(self) -> str:
        """SQLite's own verdict on the file (``ok`` when healthy)."""
        return self.db.execute_sql("PRAGMA integrity_check").fetchone()[0]

    def close(self) -> None:
        """Close the database; safe to call twice."""
        if self.db is not None and not self.db.is_closed():
            self.db.close()
        self.db = None

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def open_store(
    path: Path, key_path: Path, station_id: str, clock: Callable[[], datetime] = utc_now
) -> Store:
    """Open (creating and migrating as needed) the store at ``path`` with the key file."""
    return Store(path, load_key(Path(key_path)), station_id, clock)
