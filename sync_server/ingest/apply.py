"""Applying transactions exactly once.

The transaction id's row in ``AppliedTransaction`` is inserted in the same database
transaction as the effect (a savepoint per transaction inside one commit per batch). A
redelivered id fails that insert, so its effect is never applied twice; it is re-acked as
``duplicate``. Acks go out only after the batch is committed.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime

import msgspec
import peewee

from contract import AckItem, PetitionFiled, SchemaError, Transaction, decode_body
from sync_server.db import write_transaction
from sync_server.models import AppliedTransaction, Petition, Station

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Received:
    """A decoded transaction and the server time it arrived."""

    tx: Transaction
    received_at: datetime


class ApplyRejected(Exception):
    """A transaction that can never be applied; the reason goes back in the ack."""


def _apply_petition(tx: Transaction, body: PetitionFiled, received_at: datetime) -> None:
    if not body.number.startswith(f"P-{tx.station_id.upper()}-"):
        raise ApplyRejected("petition number was not minted by this station")
    try:
        with Petition._meta.database.atomic():
            Petition.insert(
                number=body.number,
                tx_id=tx.tx_id,
                station_id=tx.station_id,
                service=body.service,
                phone=body.phone,
                citizen_id=body.citizen_id,
                form=json.dumps(body.form, ensure_ascii=False),
                filed_station_time=tx.station_time,
                received_at=received_at,
            ).execute()
    except peewee.IntegrityError:
        raise ApplyRejected(f"petition number {body.number} is already taken") from None


APPLIERS: dict[str, Callable[[Transaction, msgspec.Struct, datetime], None]] = {
    "petition.filed": _apply_petition,
}


def apply_batch(
    db: peewee.Database, batch: Sequence[Received]
) -> tuple[dict[str, list[AckItem]], list[tuple[Received, str]]]:
    """Apply ``batch`` in one commit.

    Returns the ack items grouped by station and the rejected transactions with reasons.
    """
    acks: dict[str, list[AckItem]] = {}
    rejected: list[tuple[Received, str]] = []
    applied_per_station: dict[str, int] = {}
    last_seen: dict[str, datetime] = {}

    with write_transaction(db):
        ids = [item.tx.tx_id for item in batch]
        already = {
            row[0]
            for row in AppliedTransaction.select(AppliedTransaction.tx_id)
            .where(AppliedTransaction.tx_id.in_(ids))
            .tuples()
        }
        for item in batch:
            tx = item.tx
            last_seen[tx.station_id] = item.received_at
            outcome, reason = _apply_one(db, item, already)
            if outcome == "rejected":
                rejected.append((item, reason))
            elif outcome == "applied":
                already.add(tx.tx_id)
                applied_per_station[tx.station_id] = applied_per_station.get(tx.station_id, 0) + 1
            acks.setdefault(tx.station_id, []).append(
                AckItem(tx_id=tx.tx_id, outcome=outcome, reason=reason)
            )
        for station_id, seen_at in last_seen.items():
            _touch_station(station_id, seen_at, applied_per_station.get(station_id, 0))
    return acks, rejected


def _apply_one(db: peewee.Database, item: Received, already: set[str]) -> tuple[str, str | None]:
    tx = item.tx
    if tx.tx_id in already:
        return "duplicate", None
    try:
        body = decode_body(tx)
    except SchemaError as exc:
        return "rejected", str(exc)
    try:
        with db.atomic():
            AppliedTransaction.insert(
                tx_id=tx.tx_id,
                station_id=tx.station_id,
                seq=tx.seq,
                kind=tx.kind,
                station_time=tx.station_time,
                received_at=item.received_at,
            ).execute()
            APPLIERS[tx.kind](tx, body, item.received_at)
    except ApplyRejected as exc:
        return "rejected", str(exc)
    except peewee.IntegrityError:
        # Another worker applied it between our check and our insert.
        return "duplicate", None
    return "applied", None


def _touch_station(station_id: str, seen_at: datetime, applied: int) -> None:
    Station.insert(
        station_id=station_id,
        first_seen_at=seen_at,
        last_seen_at=seen_at,
        transactions_applied=applied,
    ).on_conflict(
        conflict_target=[Station.station_id],
        update={
            Station.last_seen_at: seen_at,
            Station.transactions_applied: Station.transactions_applied + applied,
        },
    ).execute()
