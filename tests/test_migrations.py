"""Server schema migrations on SQLite and PostgreSQL: step by step equals head, rows survive,
a database made before migrations is adopted, and the server refuses a schema behind it."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path

import peewee
import pytest
from peewee_migrate import Router

from sync_server import ServerConfigError, create_app, migrations
from sync_server.db import database, open_database
from sync_server.schema import MODELS


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def empty_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A database with no table at all (not even the history)."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'empty.sqlite3'}"
    return request.getfixturevalue("postgres_server").new_database()


@pytest.fixture
def db(empty_url: str):
    connection = open_database(empty_url)
    database.initialize(connection)
    connection.connect()
    yield connection
    connection.close()


def schema_of(db: peewee.Database) -> dict[str, tuple]:
    """The introspected schema: columns (name, type, null, pk), indexes, foreign keys."""
    tables = {}
    for table in sorted(db.get_tables()):
        if table == migrations.HISTORY_TABLE:
            continue
        columns = sorted(
            (c.name, c.data_type.lower(), c.null, bool(c.primary_key))
            for c in db.get_columns(table)
        )
        indexes = sorted((tuple(i.columns), i.unique) for i in db.get_indexes(table))
        keys = sorted((k.column, k.dest_table, k.dest_column) for k in db.get_foreign_keys(table))
        tables[table] = (columns, indexes, keys)
    return tables


def router(db: peewee.Database) -> Router:
    return Router(db, migrate_dir=migrations.MIGRATIONS_DIR, migrate_table=migrations.HISTORY_TABLE)


def test_every_step_in_turn_equals_the_models_created_at_head(db, empty_url, tmp_path):
    steps = migrations.known_steps()
    assert steps[0] == "001_initial"
    for step in steps:  # one step at a time, as releases would have applied them
        assert router(db).run(step) == [step]
    assert migrations.pending_steps(db) == []
    stepped = schema_of(db)

    if empty_url.startswith("sqlite"):
        head = peewee.SqliteDatabase(str(tmp_path / "head.sqlite3"))
    else:
        head = open_database(empty_url.rsplit("/", 1)[0] + "/postgres")
        head.execute_sql("CREATE DATABASE head_schema")
        head.close()
        head = open_database(empty_url.rsplit("/", 1)[0] + "/head_schema")
    with head.bind_ctx(MODELS):
        head.create_tables(MODELS)
    assert stepped == schema_of(head)
    assert set(stepped) == {model._meta.table_name for model in MODELS}
    head.close()


def _value_for(field: peewee.Field, row_number: int) -> object:
    """A valid value of ``field``'s type for a synthetic row."""
    if isinstance(field, peewee.ForeignKeyField):
        return None  # filled by the caller from the referenced row
    if isinstance(field, peewee.BooleanField):
        return True
    if isinstance(field, peewee.DateTimeField):
        return dt.datetime(2026, 1, 2, 3, 4, 5)
    if isinstance(field, peewee.DateField):
        return dt.date(2026, 1, 2)
    if isinstance(field, peewee.DecimalField):
        return Decimal("12.34")
    if isinstance(field, peewee.FloatField):
        return 1.5
    if isinstance(field, peewee.IntegerField):  # includes big/small and auto fields
        return row_number
    if isinstance(field, peewee.BlobField):
        return b"\x00\x01"
    if isinstance(field, peewee.CharField):
        return f"v{row_number}"[: field.max_length]
    return f"text {row_number}"


def populate_first_step(db: peewee.Database) -> dict[str, int]:
    """Apply only step 001 and put two rows in each of its tables; return the counts."""
    router(db).run(migrations.known_steps()[0])
    migrator = router(db).migrator  # step 001's frozen models
    counts = {}
    for model in migrator.orm:  # created in dependency order
        for number in (1, 2):
            row = {}
            for field in model._meta.sorted_fields:
                if isinstance(field, peewee.ForeignKeyField):
                    target = field.rel_model
                    row[field.name] = target.select().order_by(target._meta.primary_key).first()
                    if field.unique or field.primary_key:
                        row[field.name] = (
                            target.select().order_by(target._meta.primary_key).offset(number - 1)
                        ).first()
                else:
                    row[field.name] = _value_for(field, number)
            model.insert(row).execute()
        counts[model._meta.table_name] = 2
    return counts


def test_an_upgrade_over_a_populated_database_keeps_every_row(db):
    counts = populate_first_step(db)
    assert len(counts) >= 29
    before = {table: db.execute_sql(f"SELECT * FROM {table}").fetchall() for table in counts}  # noqa: S608

    migrations.upgrade(db)

    assert migrations.pending_steps(db) == []
    for table, rows in before.items():
        after = db.execute_sql(f"SELECT * FROM {table}").fetchall()  # noqa: S608
        assert len(after) == counts[table], table
        # every value the rows had is still there (later steps may add columns after them)
        assert [r[: len(rows[0])] for r in after] == rows, table


def test_a_database_made_before_migrations_is_adopted(db):
    """An older release made tables with create_tables(): no history, one column missing."""
    populate_first_step(db)
    db.execute_sql(f"DROP TABLE {migrations.HISTORY_TABLE}")
    db.execute_sql("ALTER TABLE station DROP COLUMN metrics")
    assert "metrics" not in {c.name for c in db.get_columns("station")}
    with pytest.raises(migrations.SchemaError, match="created before schema migrations"):
        migrations.require_current(db)

    applied = migrations.upgrade(db)

    assert applied == migrations.known_steps()
    assert "metrics" in {c.name for c in db.get_columns("station")}
    assert db.execute_sql("SELECT COUNT(*) FROM station").fetchone()[0] == 2
    migrations.require_current(db)
    assert migrations.upgrade(db) == []  # idempotent


def test_the_server_refuses_a_database_behind_or_ahead_of_it(db, empty_url):
    config = {"TESTING": True, "DATABASE_URL": empty_url}
    with pytest.raises(ServerConfigError, match=r"behind .*run `dcs-server db upgrade`"):
        create_app(config)
    assert db.get_tables() == []  # the check created nothing, not even the history table

    migrations.upgrade(db)
    create_app(config)  # at head: starts

    db.execute_sql(
        f"INSERT INTO {migrations.HISTORY_TABLE} (name, migrated_at) "  # noqa: S608 - a constant
        "VALUES ('999_future', CURRENT_TIMESTAMP)"
    )
    with pytest.raises(ServerConfigError, match=r"999_future.*newer release"):
        create_app(config)


def test_a_failing_step_keeps_nothing_of_itself(db, tmp_path, monkeypatch):
    """Each step runs in one transaction: a step failing halfway leaves no half-made table."""
    steps = tmp_path / "steps"
    steps.mkdir()
    for step in migrations.known_steps():
        (steps / f"{step}.py").write_text((migrations.MIGRATIONS_DIR / f"{step}.py").read_text())
    (steps / "900_broken.py").write_text(
        "import peewee as pw\n\n"
        "def migrate(migrator, database, *, fake=False):\n"
        "    @migrator.create_model\n"
        "    class HalfMade(pw.Model):\n"
        "        id = pw.AutoField()\n"
        "    migrator.sql('SELECT * FROM no_such_table')\n"
    )
    monkeypatch.setattr(migrations, "MIGRATIONS_DIR", steps)
    with pytest.raises(peewee.DatabaseError):
        migrations.upgrade(db)
    db.close()
    db.connect()
    assert "halfmade" not in db.get_tables()
    assert migrations.pending_steps(db) == ["900_broken"]
