"""The server database: one peewee proxy, the model base, the server's clock.

SQLite by default, PostgreSQL by ``DATABASE_URL``. Every feature package's ``models.py``
imports its base from here and nothing else of the server, so models never import each other
through a shared module; ``sync_server/schema.py`` lists them all for the migrations. Nothing
here creates a table: ``dcs-server db upgrade`` does (``sync_server/migrations/``).
"""

from __future__ import annotations

from datetime import UTC, datetime
from urllib.parse import urlparse

import peewee
from flask import Flask
from playhouse.db_url import connect

database = peewee.DatabaseProxy()


def utc_now() -> datetime:
    """The server's clock (UTC, aware). Times named ``*_at`` are this clock's."""
    return datetime.now(UTC)


class BaseModel(peewee.Model):
    """The base of every server table: bound to the shared proxy."""

    class Meta:
        database = database


SQLITE_PRAGMAS = {
    "journal_mode": "wal",
    # FULL: an ack is sent only after the commit is on disk, so an ack never outlives a crash.
    "synchronous": 2,
    "foreign_keys": 1,
    "busy_timeout": 10_000,
}


def open_database(url: str) -> peewee.Database:
    """A peewee database for ``url`` (``sqlite:///path`` or ``postgresql://...``)."""
    scheme = urlparse(url).scheme
    if scheme.startswith("sqlite"):
        return connect(url, pragmas=SQLITE_PRAGMAS)
    if scheme.startswith("postgres"):
        # ``timestamp`` columns hold UTC wall time whatever the server's own time zone: an
        # aware datetime written through psycopg2 is converted to the session's zone.
        return connect(url, options="-c timezone=UTC")
    raise ValueError(f"unsupported DATABASE_URL scheme {scheme!r}")


def write_transaction(db: peewee.Database | None = None) -> peewee._atomic:
    """A transaction that will write: on SQLite it takes the write lock up front.

    A deferred SQLite transaction that reads before it writes can fail at once with
    "database is locked" when another writer got there first (a lock upgrade cannot wait);
    ``BEGIN IMMEDIATE`` queues behind ``busy_timeout`` instead.
    """
    db = db or database.obj
    if isinstance(db, peewee.SqliteDatabase):
        return db.atomic("IMMEDIATE")
    return db.atomic()


def bind(url: str) -> peewee.Database:
    """Point the shared proxy at ``url`` (no table is created or altered here)."""
    db = open_database(url)
    database.initialize(db)
    return db


def init_app(app: Flask) -> None:
    """Bind the database for ``app`` and open a connection per request."""
    bind(app.config["DATABASE_URL"])

    @app.before_request
    def _connect() -> None:
        database.connect(reuse_if_open=True)

    @app.teardown_appcontext
    def _close(exc: BaseException | None) -> None:
        if not database.is_closed():
            database.close()
