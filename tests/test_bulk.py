"""The ingest's bulk writes (``sync_server/bulk.py``): what goes in comes back, on both
databases; a collision writes nothing; what a database cannot hold is refused."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import peewee
import pytest

from sync_server.bulk import insert_rows, time_converter
from sync_server.dashboard.fleet import aware
from sync_server.db import bind
from sync_server.migrations import upgrade_url
from sync_server.petitions.filing import PETITION_COLUMNS
from sync_server.petitions.models import Petition

COLUMNS = PETITION_COLUMNS
#: Every character COPY's text format escapes, and some it does not.
AWKWARD = "tab\there\nnew line\r\nback\\slash \\N \"quoted\" 'single' ภาษาไทy tiếng Việt"


def _row(serial: int, form: str, citizen_id: str | None, when: datetime) -> tuple:
    return (
        f"ST-{serial:04d}",
        f"tx-{serial}",
        "st-bulk",
        "general_petition",
        "0812345678",
        citizen_id,
        form,
        "received",
        when,
        when,
        None,
    )


@pytest.fixture
def db(database_url: str):
    database = bind(database_url)
    yield database
    database.close()


def test_rows_come_back_as_they_went_in(db: peewee.Database):
    # A station's clock in another zone: the same instant comes back (PostgreSQL keeps UTC
    # wall time, SQLite the text with its offset).
    filed = datetime(2026, 12, 7, 9, 30, 15, 123456, tzinfo=timezone(timedelta(hours=7)))
    when = time_converter(db)
    with db.atomic():
        insert_rows(
            db,
            Petition,
            COLUMNS,
            [_row(1, AWKWARD, None, when(filed)), _row(2, "{}", "1234567890123", when(filed))],
        )
    first, second = Petition.select().order_by(Petition.number)
    assert first.form == AWKWARD
    assert first.citizen_id is None and second.citizen_id == "1234567890123"
    assert first.language is None
    assert aware(first.received_at) == filed and aware(second.filed_station_time) == filed
    # The same time written by peewee itself reads back the same.
    Petition.create(**dict(zip(COLUMNS, _row(3, "{}", None, filed), strict=True)))
    assert aware(Petition.get_by_id("ST-0003").received_at) == filed
    if isinstance(db, peewee.PostgresqlDatabase):
        assert first.received_at == filed.astimezone(UTC).replace(tzinfo=None)


def test_a_collision_writes_none_of_the_rows(db: peewee.Database):
    now = time_converter(db)(datetime.now(UTC))
    with db.atomic():
        insert_rows(db, Petition, COLUMNS, [_row(1, "{}", None, now)])
    with pytest.raises(peewee.IntegrityError), db.atomic():
        insert_rows(db, Petition, COLUMNS, [_row(2, "{}", None, now), _row(1, "{}", None, now)])
    assert [p.number for p in Petition.select()] == ["ST-0001"]


@pytest.mark.postgres
def test_a_nul_character_is_refused_on_postgresql_before_anything_is_written(postgres_server):
    # PostgreSQL's text cannot hold one (SQLite's can): refused as psycopg2 refuses it.
    db = bind(upgrade_url(postgres_server.new_database()))
    now = time_converter(db)(datetime.now(UTC))
    with pytest.raises(ValueError, match="NUL"), db.atomic():
        insert_rows(db, Petition, COLUMNS, [_row(1, "a\x00b", None, now)])
    assert Petition.select().count() == 0
    db.close()
