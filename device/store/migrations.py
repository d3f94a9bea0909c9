"""Versioned schema migrations of the station store, tracked in ``PRAGMA user_version``.

Append new steps; never edit a released one. Each step runs in one transaction with the
version bump, so a power cut mid-migration leaves the previous version intact.

Forward only, and **expand only** by default: a step adds tables, indexes or columns with
defaults, so the previous release still runs on the migrated file after an update is rolled
back (docs/updates.md). The store records its *read floor* — the oldest schema version whose
software can still use the file (``store_meta``, step 5). A step that older software cannot
live with (dropping or renaming something it uses) must raise it in :data:`READ_FLOORS`; a
release older than the floor then refuses the store instead of misreading it.
"""

from __future__ import annotations

from collections.abc import Sequence

import peewee

MIGRATIONS: Sequence[Sequence[str]] = (
    # 1: the outbox of transactions waiting for the server's ack.
    (
        """CREATE TABLE outbox (
            seq INTEGER PRIMARY KEY AUTOINCREMENT,
            tx_id TEXT NOT NULL UNIQUE,
            kind TEXT NOT NULL,
            station_time TEXT NOT NULL,
            sealed_body BLOB NOT NULL,
            state TEXT NOT NULL DEFAULT 'pending'
                CHECK (state IN ('pending', 'delivered', 'rejected')),
            reason TEXT,
            settled_at TEXT
        )""",
        "CREATE INDEX outbox_state_seq ON outbox (state, seq)",
    ),
    # 2: durable counters, so citizen-facing numbers are minted on the station.
    ("CREATE TABLE counter (name TEXT PRIMARY KEY, value INTEGER NOT NULL)",),
    # 3: the receipt spool: a receipt is stored (sealed: it names the citizen) before it
    # prints, and stays queued through paper-out and printer-offline until it prints whole.
    (
        """CREATE TABLE receipt (
            seq INTEGER PRIMARY KEY AUTOINCREMENT,
            receipt_id TEXT NOT NULL UNIQUE,
            kind TEXT NOT NULL,
            queued_at TEXT NOT NULL,
            sealed_body BLOB NOT NULL,
            state TEXT NOT NULL DEFAULT 'queued'
                CHECK (state IN ('queued', 'printed', 'failed')),
            attempts INTEGER NOT NULL DEFAULT 0,
            last_error TEXT,
            settled_at TEXT
        )""",
        "CREATE INDEX receipt_state_seq ON receipt (state, seq)",
    ),
    # 4: the replica of the records of the residents this station serves (device/replica/).
    # No citizen id in clear: rows are found by a keyed hash of it, and sealed whole.
    (
        """CREATE TABLE replica_record (
            lookup_key BLOB PRIMARY KEY,
            sealed_record BLOB NOT NULL
        ) WITHOUT ROWID""",
        """CREATE TABLE replica_part (
            update_id TEXT NOT NULL,
            part INTEGER NOT NULL,
            parts INTEGER NOT NULL,
            sealed_content BLOB NOT NULL,
            PRIMARY KEY (update_id, part)
        )""",
        """CREATE TABLE replica_state (
            id INTEGER PRIMARY KEY CHECK (id = 1),
            building TEXT,
            cursor INTEGER,
            as_of TEXT,
            updated_at TEXT,
            records INTEGER NOT NULL DEFAULT 0,
            wiped INTEGER NOT NULL DEFAULT 0,
            pending_request TEXT,
            last_refusal TEXT
        )""",
        "INSERT INTO replica_state (id) VALUES (1)",
    ),
    # 5: what the store says about itself across software versions (the read floor).
    (
        "CREATE TABLE store_meta (name TEXT PRIMARY KEY, value INTEGER NOT NULL)",
        "INSERT INTO store_meta (name, value) VALUES ('read_floor', 1)",
    ),
    # 6: the public notices this station shows (device/notices/), kept to show them offline
    # until they end. Public text, signed by the server: stored as it arrived, not sealed.
    (
        """CREATE TABLE notice (
            notice_id TEXT PRIMARY KEY,
            issued_at TEXT NOT NULL,
            starts_at TEXT NOT NULL,
            ends_at TEXT NOT NULL,
            withdrawn INTEGER NOT NULL DEFAULT 0,
            payload BLOB NOT NULL
        )""",
        "CREATE INDEX notice_ends_at ON notice (ends_at)",
    ),
)

#: Steps older software cannot live with: version -> the read floor it sets. None so far.
READ_FLOORS: dict[int, int] = {}

LATEST_VERSION = len(MIGRATIONS)


class MigrationError(RuntimeError):
    """The store was written by a newer version of the software."""


def schema_version(db: peewee.SqliteDatabase) -> int:
    """The version the store's schema is at (0 for a new file)."""
    return db.execute_sql("PRAGMA user_version").fetchone()[0]


def read_floor(db: peewee.SqliteDatabase) -> int | None:
    """The oldest schema version whose software may use this store (``None``: not recorded)."""
    try:
        row = db.execute_sql("SELECT value FROM store_meta WHERE name = 'read_floor'").fetchone()
    except peewee.OperationalError:  # no such table: written before step 5
        return None
    return row[0] if row else None


def migrate(db: peewee.SqliteDatabase, target: int = LATEST_VERSION) -> int:
    """Bring the schema up to ``target``; returns the number of steps applied.

    Each step takes the write lock first (``BEGIN IMMEDIATE``) and re-reads the version
    inside it, so two processes opening a new store at once (the daemon and a CLI) migrate
    it once instead of both creating the same tables.
    """
    applied = 0
    while True:
        with db.atomic("IMMEDIATE"):
            current = schema_version(db)
            if current > LATEST_VERSION:
                floor = read_floor(db)
                if floor is None or floor > LATEST_VERSION:
                    raise MigrationError(
                        f"store schema version {current} is newer than this software "
                        f"({LATEST_VERSION}) and needs at least {floor or current}"
                    )
                return applied  # a newer, expand-only schema: this software runs on it as is
            if current >= target:
                return applied
            version = current + 1
            for statement in MIGRATIONS[version - 1]:
                db.execute_sql(statement)
            if version in READ_FLOORS:
                db.execute_sql(
                    "UPDATE store_meta SET value = ? WHERE name = 'read_floor'",
                    (READ_FLOORS[version],),
                )
            # PRAGMA cannot take parameters; version is an int from our own table.
            db.execute_sql(f"PRAGMA user_version = {int(version)}")
        applied += 1
