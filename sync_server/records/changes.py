"""The change log: every write to a resident's record notes it, so replicas can follow.

Ids come from one counter row updated inside the writing transaction. On PostgreSQL the
update takes that row's lock until commit, so writers queue on it and ids are handed out in
commit order; on SQLite writers are serialised anyway. A reader that has seen change ``n``
can therefore never later find a committed change below ``n`` that it missed (what a plain
sequence cannot promise: a smaller id may commit after a larger one).
"""

from __future__ import annotations

from collections.abc import Iterable

import peewee

from sync_server.db import utc_now
from sync_server.records.bulk import bulk_insert, to_driver
from sync_server.records.models import ChangeCounter, RecordChange

COUNTER = "records"


def reserve_change_ids(db: peewee.Database, count: int) -> int:
    """Take ``count`` change ids; returns the last. Call inside the writing transaction."""
    ChangeCounter.insert(name=COUNTER, value=0).on_conflict_ignore().execute()
    ChangeCounter.update(value=ChangeCounter.value + count).where(
        ChangeCounter.name == COUNTER
    ).execute()
    return ChangeCounter.get_by_id(COUNTER).value


def log_changes(db: peewee.Database, changes: Iterable[tuple[str, str | None]]) -> int | None:
    """Note that each ``(citizen_id, building)`` changed; returns the last id (None: nothing).

    A resident who moved is logged in both buildings, so the old one's stations drop them.
    Changes without a building concern no station.
    """
    rows = [(citizen_id, building) for citizen_id, building in changes if building]
    if not rows:
        return None
    last = reserve_change_ids(db, len(rows))
    first = last - len(rows) + 1
    at = to_driver(db, utc_now())
    bulk_insert(
        db,
        RecordChange,
        ("id", "citizen_id", "building", "at"),
        [(first + n, cid, building, at) for n, (cid, building) in enumerate(rows)],
    )
    return last


def latest_change_id() -> int:
    """The last change id handed out (0 before any)."""
    row = ChangeCounter.get_or_none(ChangeCounter.name == COUNTER)
    return 0 if row is None else row.value


def changed_since(building: str, after: int, upto: int) -> list[str]:
    """Citizen ids changed in ``building`` with ``after < id <= upto``, oldest first."""
    query = (
        RecordChange.select(RecordChange.citizen_id, peewee.fn.MAX(RecordChange.id))
        .where(
            (RecordChange.building == building)
            & (RecordChange.id > after)
            & (RecordChange.id <= upto)
        )
        .group_by(RecordChange.citizen_id)
        .order_by(peewee.fn.MAX(RecordChange.id))
    )
    return [citizen_id for citizen_id, _ in query.tuples()]
