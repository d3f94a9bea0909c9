"""Applying transactions exactly once.

The transaction id's row in ``AppliedTransaction`` is inserted in the same database
transaction as the effect, one commit per batch. A redelivered id is found by the lookup at
the start of the batch (or fails that insert), so its effect is never applied twice; it is
re-acked as ``duplicate``. Acks go out only after the batch is committed.

A batch is first applied in bulk: one prepared insert per table inside one savepoint. If
anything in it collides (a petition number taken, an id applied meanwhile by another
worker), that savepoint is rolled back and the batch is applied again one transaction at a
time, each in its own savepoint, which sorts out exactly which ones collide.

The statements are built by peewee once (so they speak the database's dialect) and then run
with ``executemany``: building a peewee query per row cost more than the database's own
work (see ``bench/sync.py``).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import peewee
from peewee import EXCLUDED

from contract import AckItem, LookupAudited, SchemaError, Transaction, decode_body
from sync_server.audit.models import AuditEvent
from sync_server.bulk import insert_rows, prepared_insert, run_many, time_converter
from sync_server.db import write_transaction
from sync_server.fleet.models import Station
from sync_server.ingest.models import AppliedTransaction
from sync_server.petitions import filing
from sync_server.sms.models import SmsOutbox

log = logging.getLogger(__name__)

Outcome = tuple[str, str | None]


@dataclass(frozen=True)
class Received:
    """A decoded transaction and the server time it arrived."""

    tx: Transaction
    received_at: datetime


class ApplyRejected(Exception):
    """A transaction that can never be applied; the reason goes back in the ack."""


RowMaker = Callable[[Transaction, Any, object, object], tuple]


#: Given the transactions of a batch about to be applied (with their bodies) and the server
#: time, the tx ids whose ``Also`` row must not be written.
Gate = Callable[[Sequence[tuple[Transaction, Any]], datetime], set[str]]


@dataclass(frozen=True)
class Also:
    """A further row a transaction writes with its effect (the filing's SMS).

    ``gate``, if any, withholds the row for some transactions (the station is over a budget);
    the effect itself is applied all the same.
    """

    model: type[peewee.Model]
    columns: tuple[str, ...]
    row: RowMaker
    gate: Gate | None = None


@dataclass(frozen=True)
class Applier:
    """How one kind of transaction takes effect: one row of ``model`` per transaction.

    ``check`` refuses what can never be applied (raises :class:`ApplyRejected`) without
    writing; ``row`` gives the values of ``columns`` from the transaction, its body and
    its two times (station's, server's) already in the driver's form; ``conflict`` says
    what an ``IntegrityError`` on that row means; ``also`` are rows written with it, in the
    same transaction.
    """

    model: type[peewee.Model]
    columns: tuple[str, ...]
    check: Callable[[Transaction, Any], None]
    row: RowMaker
    conflict: Callable[[Transaction, Any], str]
    also: tuple[Also, ...] = ()


def _check_petition(tx: Transaction, body: Any) -> None:
    try:
        filing.check(tx, body)
    except filing.NotThisStationsNumber as exc:
        raise ApplyRejected(str(exc)) from None


def _audit_row(
    tx: Transaction, body: LookupAudited, station_time: object, received_at: object
) -> tuple:
    # The trail is ordered by the server's clock; the station's may be wrong.
    action = f"lookup.{body.query}.offline"
    return (received_at, f"station:{tx.station_id}", action, body.citizen_id, body.outcome)


def _accept(tx: Transaction, body: object) -> None:
    """Nothing to refuse beyond the schema."""


APPLIERS: dict[str, Applier] = {
    "petition.filed": Applier(
        model=filing.PETITION_TABLE,
        columns=filing.PETITION_COLUMNS,
        check=_check_petition,
        row=filing.petition_row,
        conflict=lambda tx, body: f"petition number {body.number} is already taken",
        # Seed 004's SMS, within the station's filing budget.
        also=(Also(SmsOutbox, filing.SMS_COLUMNS, filing.sms_row, filing.sms_withheld),),
    ),
    "audit.lookup": Applier(
        model=AuditEvent,
        columns=("at", "actor", "action", "subject", "outcome"),
        check=_accept,
        row=_audit_row,
        conflict=lambda tx, body: "audit event could not be stored",
    ),
}

_APPLIED_COLUMNS = ("tx_id", "station_id", "seq", "kind", "station_time", "received_at")
_STATION_COLUMNS = (
    "station_id",
    "first_seen_at",
    "last_seen_at",
    "presence",
    "backlog",
    "rejected",
    "transactions_applied",
)


def _rows_of(
    item: Received,
    applier: Applier,
    body: Any,
    when: Callable[[datetime], object],
    withheld: set[tuple[str, int]],
) -> tuple[tuple, tuple, list[tuple | None]]:
    """The ``AppliedTransaction`` row, the effect's row and the rows written with it
    (``None`` for one its gate withheld)."""
    tx = item.tx
    station_time, received_at = when(tx.station_time), when(item.received_at)
    applied = (tx.tx_id, tx.station_id, tx.seq, tx.kind, station_time, received_at)
    effect = applier.row(tx, body, station_time, received_at)
    also_rows = [
        None if (tx.tx_id, index) in withheld else also.row(tx, body, station_time, received_at)
        for index, also in enumerate(applier.also)
    ]
    return applied, effect, also_rows


def _gated(accepted: Sequence[tuple[Received, Applier, Any]]) -> set[tuple[str, int]]:
    """``(tx_id, also index)`` of every row a gate withholds from the accepted transactions."""
    withheld: set[tuple[str, int]] = set()
    gates: dict[tuple[str, int], list[tuple[Transaction, Any]]] = {}
    for item, applier, body in accepted:
        for index, also in enumerate(applier.also):
            if also.gate is not None:
                gates.setdefault((item.tx.kind, index), []).append((item.tx, body))
    now = max((item.received_at for item, _a, _b in accepted), default=None)
    for (kind, index), members in gates.items():
        gate = APPLIERS[kind].also[index].gate
        withheld.update((tx_id, index) for tx_id in gate(members, now))
    return withheld


def _already_applied(db: peewee.Database, ids: list[str]) -> set[str]:
    """Which of ``ids`` have been applied before (plain SQL: one statement per 500 ids)."""
    found: set[str] = set()
    table = AppliedTransaction._meta.table_name
    for start in range(0, len(ids), 500):
        chunk = ids[start : start + 500]
        marks = ", ".join([db.param] * len(chunk))
        sql = f'SELECT "tx_id" FROM "{table}" WHERE "tx_id" IN ({marks})'  # noqa: S608 - marks only
        found.update(row[0] for row in db.execute_sql(sql, chunk))
    return found


def apply_batch(
    db: peewee.Database, batch: Sequence[Received]
) -> tuple[dict[str, list[AckItem]], list[tuple[Received, str]]]:
    """Apply ``batch`` in one commit.

    Returns the ack items grouped by station and the rejected transactions with reasons.
    """
    with write_transaction(db):
        already = _already_applied(db, [item.tx.tx_id for item in batch])
        refused = filing.refuse_jumps(
            db,
            (
                (item.tx.tx_id, item.tx.station_id, item.tx.body.get("number"))
                for item in batch
                if item.tx.kind == "petition.filed" and item.tx.tx_id not in already
            ),
        )
        outcomes = _apply_in_bulk(db, batch, already, refused)
        if outcomes is None:
            outcomes = [_apply_one(db, item, already, refused) for item in batch]

        acks: dict[str, list[AckItem]] = {}
        rejected: list[tuple[Received, str]] = []
        applied_per_station: dict[str, int] = {}
        highest: dict[str, int] = {}
        last_seen: dict[str, datetime] = {}
        for item, (outcome, reason) in zip(batch, outcomes, strict=True):
            tx = item.tx
            last_seen[tx.station_id] = item.received_at
            if outcome == "rejected":
                rejected.append((item, reason))
            elif outcome == "applied":
                applied_per_station[tx.station_id] = applied_per_station.get(tx.station_id, 0) + 1
                if tx.kind == "petition.filed":
                    serial = filing.serial_of(tx.body.get("number")) or 0
                    highest[tx.station_id] = max(highest.get(tx.station_id, 0), serial)
            acks.setdefault(tx.station_id, []).append(
                AckItem(tx_id=tx.tx_id, outcome=outcome, reason=reason)
            )
        _touch_stations(db, last_seen, applied_per_station)
        filing.record_highest(db, highest)
    return acks, rejected


def _apply_in_bulk(
    db: peewee.Database, batch: Sequence[Received], already: set[str], refused: dict[str, str]
) -> list[Outcome] | None:
    """Apply the batch with one insert per table; ``None`` when something collided.

    Gives the same outcomes as :func:`_apply_one` item by item, which it falls back to:
    nothing written here survives a collision (one savepoint around it all), and ``already``
    is only updated once the savepoint is released.
    """
    when = time_converter(db)
    outcomes: list[Outcome] = []
    seen: set[str] = set()
    effects: dict[str, list[tuple]] = {}
    alsos: dict[tuple[str, int], list[tuple]] = {}
    applied_rows: list[tuple] = []
    accepted: list[tuple[Received, Applier, Any]] = []
    for item in batch:
        tx = item.tx
        if tx.tx_id in already or tx.tx_id in seen:
            outcomes.append(("duplicate", None))
            continue
        if tx.tx_id in refused:
            outcomes.append(("rejected", refused[tx.tx_id]))
            continue
        try:
            body = decode_body(tx)
            applier = APPLIERS[tx.kind]
            applier.check(tx, body)
        except (SchemaError, ApplyRejected) as exc:
            outcomes.append(("rejected", str(exc)))
            continue
        seen.add(tx.tx_id)
        accepted.append((item, applier, body))
        outcomes.append(("applied", None))
    try:
        with db.atomic():
            # Inside the savepoint: a collision undoes the gates' audit rows and alarm too.
            withheld = _gated(accepted)
            for item, applier, body in accepted:
                applied, effect, also_rows = _rows_of(item, applier, body, when, withheld)
                applied_rows.append(applied)
                effects.setdefault(item.tx.kind, []).append(effect)
                for index, row in enumerate(also_rows):
                    if row is not None:
                        alsos.setdefault((item.tx.kind, index), []).append(row)
            insert_rows(db, AppliedTransaction, _APPLIED_COLUMNS, applied_rows)
            for kind, rows in effects.items():
                applier = APPLIERS[kind]
                insert_rows(db, applier.model, applier.columns, rows)
            for (kind, index), rows in alsos.items():
                also = APPLIERS[kind].also[index]
                insert_rows(db, also.model, also.columns, rows)
    except peewee.IntegrityError:
        log.info("a batch of %d collided; applying it one by one", len(batch))
        return None
    already.update(seen)
    return outcomes


def _apply_one(
    db: peewee.Database, item: Received, already: set[str], refused: dict[str, str]
) -> Outcome:
    tx = item.tx
    if tx.tx_id in already:
        return "duplicate", None
    if tx.tx_id in refused:
        return "rejected", refused[tx.tx_id]
    try:
        body = decode_body(tx)
        applier = APPLIERS[tx.kind]
        applier.check(tx, body)
    except (SchemaError, ApplyRejected) as exc:
        return "rejected", str(exc)
    try:
        with db.atomic():
            withheld = _gated([(item, applier, body)])
            applied, effect, also_rows = _rows_of(item, applier, body, time_converter(db), withheld)
            insert_rows(db, AppliedTransaction, _APPLIED_COLUMNS, [applied])
            try:
                with db.atomic():
                    insert_rows(db, applier.model, applier.columns, [effect])
                    for also, row in zip(applier.also, also_rows, strict=True):
                        if row is not None:
                            insert_rows(db, also.model, also.columns, [row])
            except peewee.IntegrityError:
                raise ApplyRejected(applier.conflict(tx, body)) from None
    except ApplyRejected as exc:
        return "rejected", str(exc)
    except peewee.IntegrityError:
        # Another worker applied it between our check and our insert.
        return "duplicate", None
    already.add(tx.tx_id)
    return "applied", None


def _touch_stations(
    db: peewee.Database, last_seen: dict[str, datetime], applied: dict[str, int]
) -> None:
    """Record when each station was last heard of and add up what it had applied.

    In station-id order, as every multi-row upsert of the ingest: two workers locking the
    same stations' rows in different orders would deadlock on PostgreSQL.
    """
    rows = [
        (
            station_id,
            last_seen[station_id],
            last_seen[station_id],
            "unknown",
            0,
            0,
            applied.get(station_id, 0),
        )
        for station_id in sorted(last_seen)
    ]
    run_many(db, prepared_insert(db, Station, _STATION_COLUMNS, _add_to_station), rows)


def _add_to_station(query: peewee.Insert) -> peewee.Insert:
    """The station upsert: last seen now, applied added up."""
    return query.on_conflict(
        conflict_target=[Station.station_id],
        update={
            Station.last_seen_at: EXCLUDED.last_seen_at,
            Station.transactions_applied: Station.transactions_applied
            + EXCLUDED.transactions_applied,
        },
    )
