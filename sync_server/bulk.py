"""Many rows in few statements, through the driver: what the ingest writes per batch.

peewee builds its SQL from Python objects value by value; for the thousands of rows of an
ingest batch that cost more than the database's own work. Here the INSERT of a model's
columns is built once by peewee and cached, and the rows go to the driver as tuples in the
driver's form: ``executemany`` on SQLite; on PostgreSQL ``COPY`` for plain inserts and
multi-row statements (``execute_values``) for upserts.
"""

from __future__ import annotations

import io
import re
from collections.abc import Callable
from datetime import UTC, datetime
from functools import lru_cache

import peewee
import psycopg2.extras

__all__ = ["insert_rows", "prepared_insert", "run_many", "time_converter"]

_SQL: dict[tuple, str] = {}
_VALUES = re.compile(r"VALUES (\([^)]*\))")

#: Adds an ON CONFLICT clause (or anything else) to the INSERT before it is cached.
Refine = Callable[[peewee.Insert], peewee.Insert]


def prepared_insert(
    db: peewee.Database,
    model: type[peewee.Model],
    columns: tuple[str, ...],
    refine: Refine | None = None,
) -> str:
    """The INSERT of ``columns`` into ``model`` in ``db``'s dialect, built once."""
    key = (type(db), model, columns, refine)
    sql = _SQL.get(key)
    if sql is None:
        fields = {model._meta.fields[name]: None for name in columns}
        query = model.insert(fields)
        if refine is not None:
            query = refine(query)
        query = query.returning()  # no RETURNING clause (PostgreSQL would add one)
        sql, params = db.get_sql_context().sql(query).query()
        if len(params) != len(columns):  # peewee added a default we did not list
            raise RuntimeError(f"insert into {model.__name__} has {len(params)} parameters")
        _SQL[key] = sql
    return sql


def run_many(db: peewee.Database, sql: str, rows: list[tuple]) -> None:
    """Run the single-row INSERT ``sql`` for every row, the driver's fastest way."""
    if not rows:
        return
    cursor = db.cursor()
    with peewee.__exception_wrapper__:  # driver errors become peewee's, as everywhere else
        if isinstance(db, peewee.PostgresqlDatabase):
            # psycopg2's executemany is one round trip per row; this sends one multi-row
            # statement per page, parsed and planned once (execute_batch sent pages of
            # single-row statements: the server's work per row stayed).
            statement, template = _multi_row(sql)
            psycopg2.extras.execute_values(cursor, statement, rows, template, page_size=500)
        else:
            cursor.executemany(sql, rows)


def insert_rows(
    db: peewee.Database, model: type[peewee.Model], columns: tuple[str, ...], rows: list[tuple]
) -> None:
    """Insert ``rows`` (values of ``columns``, in the driver's form: see
    :func:`time_converter`): one prepared INSERT on SQLite, one ``COPY`` on PostgreSQL.

    Either fails whole on a constraint (``peewee.IntegrityError``), as one INSERT would.
    """
    if not rows:
        return
    if not isinstance(db, peewee.PostgresqlDatabase):
        run_many(db, prepared_insert(db, model, columns), rows)
        return
    # COPY's text format is built here about three times faster than psycopg2 quotes the
    # same values for a multi-row INSERT (its ``mogrify``, a third of the ingest's own time).
    names = ", ".join(f'"{model._meta.fields[name].column_name}"' for name in columns)
    text = "".join(["\t".join(map(_copy_text, row)) + "\n" for row in rows])
    with peewee.__exception_wrapper__:
        db.cursor().copy_expert(
            f'COPY "{model._meta.table_name}" ({names}) FROM STDIN', io.StringIO(text)
        )


_COPY_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})
_NEEDS_ESCAPE = re.compile(r"[\\\t\n\r\x00]")


def _copy_text(value: object) -> str:
    """``value`` in COPY's text format (``\\N`` is NULL)."""
    if isinstance(value, str):
        if _NEEDS_ESCAPE.search(value) is None:
            return value
        if "\x00" in value:  # PostgreSQL text cannot hold it; psycopg2 refuses it the same way
            raise ValueError("A string literal cannot contain NUL (0x00) characters.")
        return value.translate(_COPY_ESCAPES)
    if value is None:
        return "\\N"
    if isinstance(value, datetime):
        return _postgres_time(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    raise TypeError(f"no COPY text for a {type(value).__name__}")


def _multi_row(sql: str) -> tuple[str, str]:
    """``INSERT ... VALUES (%s, %s) ...`` as execute_values wants it: ``VALUES %s`` and the
    row template ``(%s, %s)``."""
    match = _VALUES.search(sql)
    if match is None:
        raise RuntimeError(f"not a single-row INSERT: {sql[:60]}")
    return sql[: match.start(1)] + "%s" + sql[match.end(1) :], match.group(1)


def _sqlite_time(value: datetime) -> str:
    # Exactly what sqlite3's default datetime adapter stores (and peewee reads back), made
    # once per transaction instead of once per column.
    return value.isoformat(" ")


@lru_cache(maxsize=1024)  # a message's transactions share their arrival time
def _postgres_time(value: datetime) -> str:
    # UTC wall time as text: the server keeps UTC wall time in ``timestamp`` columns (the
    # connection's time zone is UTC: sync_server.db). Ready for COPY as it is; PostgreSQL
    # reads the same text as a parameter of any statement.
    if value.tzinfo is not None:
        value = value.astimezone(UTC).replace(tzinfo=None)
    return value.isoformat(" ")


def time_converter(db: peewee.Database) -> Callable[[datetime], object]:
    """How ``db``'s driver wants a datetime in a row for :func:`insert_rows`."""
    return _sqlite_time if isinstance(db, peewee.SqliteDatabase) else _postgres_time
