"""The server's schema migrations: numbered steps in this folder, run by peewee-migrate.

``dcs-server db upgrade`` applies the steps a database has not had, each in its own
transaction (SQLite and PostgreSQL both roll DDL back), and records each in the
``schema_history`` table. Nothing else creates or alters a table: ``create_app`` and every
worker call :func:`require_current` and refuse to start, naming the command, when the
database is behind (or ahead of) the code.

A database made before migrations existed (tables created by ``create_tables``, no history)
is *adopted*: step 001 runs over it, creating only what is missing, the columns it lacks are
added, and the step is recorded. Steps run forward only; to go back, restore a backup.

To add a step: change the models, then ``dcs-server db new <name>`` writes the next numbered
file with the difference peewee-migrate finds; read it, trim it, and add a test.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import peewee
from peewee_migrate import Migrator, Router
from playhouse.migrate import SchemaMigrator, migrate

log = logging.getLogger(__name__)
# peewee-migrate logs every CREATE TABLE at INFO; the steps applied are what an operator needs.
logging.getLogger("peewee_migrate").setLevel(logging.WARNING)

MIGRATIONS_DIR = Path(__file__).resolve().parent
HISTORY_TABLE = "schema_history"
#: A table every release has had: its presence without a history means "made before migrations".
LEGACY_MARKER_TABLE = "station"


class SchemaError(RuntimeError):
    """The database's schema does not match the code; the message says what to run."""


@dataclass(frozen=True)
class AppliedStep:
    """One migration recorded in the history table."""

    name: str
    applied_at: datetime


def known_steps() -> list[str]:
    """Every migration shipped with this code, in order (``001_initial``, ...)."""
    return sorted(p.stem for p in MIGRATIONS_DIR.iterdir() if Router.filemask.match(p.name))


def applied_steps(db: peewee.Database) -> list[AppliedStep]:
    """The history table's rows, oldest first; empty when there is no history table.

    Read with plain SQL so that checking never creates the history table.
    """
    if not db.table_exists(HISTORY_TABLE):
        return []
    cursor = db.execute_sql(f"SELECT name, migrated_at FROM {HISTORY_TABLE} ORDER BY id")  # noqa: S608 - a constant
    return [AppliedStep(name, _as_datetime(at)) for name, at in cursor.fetchall()]


def pending_steps(db: peewee.Database) -> list[str]:
    """The shipped migrations this database has not had."""
    done = {step.name for step in applied_steps(db)}
    return [name for name in known_steps() if name not in done]


def require_current(db: peewee.Database) -> None:
    """Raise :class:`SchemaError` unless the database has had exactly the shipped migrations."""
    with db.connection_context():
        applied = [step.name for step in applied_steps(db)]
        if not applied and db.table_exists(LEGACY_MARKER_TABLE):
            raise SchemaError(
                "the database was created before schema migrations; "
                "run `dcs-server db upgrade` to adopt it"
            )
        unknown = [name for name in applied if name not in set(known_steps())]
        if unknown:
            raise SchemaError(
                f"the database has migrations this server does not know ({', '.join(unknown)}): "
                "it was upgraded by a newer release; run that release"
            )
        pending = [name for name in known_steps() if name not in set(applied)]
        if pending:
            at = applied[-1] if applied else "empty"
            raise SchemaError(
                f"the database schema is behind (at {at}, missing {', '.join(pending)}); "
                "run `dcs-server db upgrade`"
            )


def upgrade(db: peewee.Database) -> list[str]:
    """Apply every pending migration, each in a transaction; return the names applied.

    Run it while no other server process writes (the systemd units run it before the
    server starts): peewee-migrate replays applied steps to know the models' shapes.
    """
    with db.connection_context():
        adopted = _adopt_legacy(db)
        applied = _router(db).run()
    if adopted:
        applied.insert(0, adopted)
    for name in applied:
        log.info("migration applied: %s", name)
    return applied


def upgrade_url(url: str) -> str:
    """Upgrade the database at ``url`` on a connection of its own; return the URL.

    For callers that have no app yet (tests, benchmarks, the demo's first step).
    """
    from sync_server.db import open_database

    db = open_database(url)
    try:
        upgrade(db)
    finally:
        db.close()
    return url


def create_step(db: peewee.Database, name: str) -> str | None:
    """Write the next numbered migration with the difference between the models and the steps."""
    from sync_server.schema import MODELS

    with db.connection_context():
        return _router(db).create(name, auto=list(MODELS))


def _router(db: peewee.Database) -> Router:
    return Router(db, migrate_dir=MIGRATIONS_DIR, migrate_table=HISTORY_TABLE, logger=log)


def _adopt_legacy(db: peewee.Database) -> str | None:
    """Bring a pre-migration database to step 001 and record it; None when not such a one."""
    if db.table_exists(HISTORY_TABLE) or not db.table_exists(LEGACY_MARKER_TABLE):
        return None
    first = known_steps()[0]
    router = _router(db)
    migrator = router.migrator_class(db)
    with db.atomic():
        router.run_one(first, migrator, fake=False)  # creates what is missing, records it
        _add_missing_columns(db, migrator)
    log.warning("adopted a database created before migrations as %s", first)
    return first


def _add_missing_columns(db: peewee.Database, migrator: Migrator) -> None:
    """Add the columns of step 001's tables (in ``migrator.orm``) that an older database lacks."""
    schema = SchemaMigrator.from_database(db)
    operations = []
    for model in migrator.orm:
        table = model._meta.table_name
        present = {column.name for column in db.get_columns(table)}
        for field in model._meta.sorted_fields:
            if field.column_name not in present:
                field.null = True  # existing rows have no value; the model supplies defaults
                operations.append(schema.add_column(table, field.column_name, field))
    if operations:
        migrate(*operations)


def _as_datetime(value: object) -> datetime:
    if isinstance(value, datetime):
        return value
    return datetime.fromisoformat(str(value))
