"""Bulk inserts for the seed and the change log: one prepared statement, many rows.

The statement is built by peewee (so it speaks the database's dialect) and run with the
driver's fastest batch call: ``executemany`` on SQLite, ``execute_values`` (multi-row
``VALUES``) on PostgreSQL, where ``executemany`` is one round trip per row.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import peewee
import psycopg2.extras

_SQL: dict[tuple[type, type, tuple[str, ...]], str] = {}


def insert_sql(db: peewee.Database, model: type[peewee.Model], columns: tuple[str, ...]) -> str:
    """``INSERT INTO model (columns) VALUES (?, ...)`` in ``db``'s dialect, built once."""
    key = (type(db), model, columns)
    sql = _SQL.get(key)
    if sql is None:
        fields = {model._meta.fields[name]: None for name in columns}
        query = model.insert(fields).returning()  # no RETURNING clause on PostgreSQL
        sql, params = db.get_sql_context().sql(query).query()
        if len(params) != len(columns):  # peewee added a default we did not list
            raise RuntimeError(f"insert into {model.__name__} has {len(params)} parameters")
        _SQL[key] = sql
    return sql


def to_driver(db: peewee.Database, value: object) -> object:
    """A value in the form the driver binds (SQLite: datetimes as peewee stores them)."""
    if isinstance(value, datetime) and isinstance(db, peewee.SqliteDatabase):
        return value.isoformat(" ")
    return value


def bulk_insert(
    db: peewee.Database,
    model: type[peewee.Model],
    columns: tuple[str, ...],
    rows: Sequence[tuple],
    page_size: int = 1000,
) -> int:
    """Insert ``rows`` (values of ``columns`` in the driver's form); returns how many."""
    if not rows:
        return 0
    sql = insert_sql(db, model, columns)
    cursor = db.cursor()
    with peewee.__exception_wrapper__:  # driver errors become peewee's, as everywhere else
        if isinstance(db, peewee.PostgresqlDatabase):
            head, _, _ = sql.partition(" VALUES ")
            psycopg2.extras.execute_values(cursor, f"{head} VALUES %s", rows, page_size=page_size)
        else:
            cursor.executemany(sql, rows)
    return len(rows)
