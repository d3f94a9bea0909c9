"""Applying ``petition.filed``: the petition's row and seed 004's SMS, for the ingest worker.

The ingest worker inserts both in bulk, in the transaction that records the transaction id,
so a filed petition and its SMS exist together or not at all, and a redelivery (already
applied) queues nothing. The SMS's ``dedupe_key`` is the petition number: even a second
transaction with the same number could not text twice.

A station is not trusted: one with a stolen certificate could file petitions to text any
number it likes. :func:`sms_withheld` bounds the SMS one station's filings cause (the
``sms.filing`` budget, counted over the petitions already received from it); past it the
petition is still filed (the resident has its printed number) but its SMS is not queued, and
a ``budget`` alarm opens.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from datetime import datetime

import msgspec
import peewee

from contract import PetitionFiled, Transaction
from contract.identifiers import (
    InvalidPetitionNumberError,
    is_minted_by,
    parse_petition_number,
)
from sync_server.audit import audit_each
from sync_server.budgets.policy import FILING_SMS, BudgetPolicy
from sync_server.bulk import time_converter
from sync_server.dashboard.alarms import Finding, raise_events
from sync_server.db import utc_now
from sync_server.petitions.models import Petition, PetitionSerial
from sync_server.petitions.notify import FILED_TEMPLATE
from sync_server.sms.gateway import DEFAULT_SENDER
from sync_server.sms.outbox import OUTBOX_COLUMNS, outbox_row

#: Where a filed petition goes: the ingest worker inserts :func:`petition_row` s into it in
#: bulk (its exactly-once machinery is the ingest's; what a petition row holds is ours).
PETITION_TABLE = Petition
#: The petition columns :func:`petition_row` fills.
PETITION_COLUMNS = (
    "number",
    "tx_id",
    "station_id",
    "service",
    "phone",
    "citizen_id",
    "form",
    "status",
    "filed_station_time",
    "received_at",
    "language",
)
SMS_COLUMNS = OUTBOX_COLUMNS

log = logging.getLogger(__name__)


#: How far beyond the highest serial applied from a station a new petition's serial may go.
#: A station delivers its outbox in order, so real gaps are at most its window of unacked
#: transactions (10,000 at most, ``device/config.py``); a station that could jump further
#: could use up its own numbering (9,999,999 serials) with one message, and its replacement
#: would start where that message left it.
SERIAL_JUMP_LIMIT = 10_000


class NotThisStationsNumber(ValueError):
    """The petition number was minted by another station."""


def check(tx: Transaction, body: PetitionFiled) -> None:
    """Refuse a number the sending station did not mint (the contract parses the number)."""
    if not is_minted_by(body.number, tx.station_id):
        raise NotThisStationsNumber("petition number was not minted by this station")


def petition_row(
    tx: Transaction, body: PetitionFiled, station_time: object, received_at: object
) -> tuple:
    """The values of :data:`PETITION_COLUMNS` (times already in the driver's form)."""
    return (
        body.number,
        tx.tx_id,
        tx.station_id,
        body.service,
        body.phone,
        body.citizen_id,
        msgspec.json.encode(body.form).decode(),  # UTF-8 as is, like ensure_ascii=False
        "received",
        station_time,
        received_at,
        body.language,
    )


def sms_row(
    tx: Transaction, body: PetitionFiled, station_time: object, received_at: object
) -> tuple:
    """The values of :data:`SMS_COLUMNS`: the number and tracking link, in the filing language,
    from sender OSS-LOCAL, due at once."""
    return outbox_row(
        body.phone,
        FILED_TEMPLATE,
        {"number": body.number},
        body.language,
        f"petition.filed:{body.number}",
        None,
        DEFAULT_SENDER,
        received_at,
    )


def sms_withheld(
    filings: Sequence[tuple[Transaction, PetitionFiled]],
    now: datetime,
    policy: BudgetPolicy | None = None,
) -> set[str]:
    """The tx ids among ``filings`` whose SMS would take a station past its filing budget.

    Counts the petitions already received from each station inside each window of the
    ``sms.filing`` budget; the first filings of the batch that still fit get their SMS, the
    rest are withheld, audited and alarmed (inside the caller's transaction). A handful of
    statements per batch, whatever the number of stations in it: the path a station with a
    stolen certificate takes has to stay cheap.
    """
    limits = (policy or BudgetPolicy()).limits(FILING_SMS)
    per_station: dict[str, list[tuple[Transaction, PetitionFiled]]] = {}
    for tx, body in filings:
        per_station.setdefault(tx.station_id, []).append((tx, body))
    windows = [(now - limit.window, limit.max_hits) for limit in limits]
    received = _received_since(sorted(per_station), windows)
    over_budget: dict[str, list[tuple[Transaction, PetitionFiled]]] = {}
    for station_id, theirs in per_station.items():
        room = min(
            limit.max_hits - count
            for limit, count in zip(limits, received[station_id], strict=True)
        )
        if over := theirs[max(room, 0) :]:
            over_budget[station_id] = over
    if not over_budget:
        return set()
    audit_each(
        f"budget.{FILING_SMS}",
        [
            (f"station:{station_id}", body.number)
            for station_id, over in over_budget.items()
            for _tx, body in over
        ],
        "sms_withheld",
    )
    raise_events(
        {
            station_id: Finding(
                "budget",
                "warning",
                f"เกินโควตา SMS คำร้อง · {len(over)} petition SMS withheld,"
                f" over its {FILING_SMS} budget",
            )
            for station_id, over in over_budget.items()
        }
    )
    for station_id, over in over_budget.items():
        log.warning("station %s: %d petition SMS withheld (over budget)", station_id, len(over))
    return {tx.tx_id for over in over_budget.values() for tx, _body in over}


#: Stations counted per statement (each costs one capped subquery per window).
_COUNTED_PER_STATEMENT = 100


def _received_since(
    station_ids: list[str], windows: list[tuple[datetime, int]]
) -> dict[str, list[int]]:
    """For each station, how many petitions it filed since each window's start, counted up to
    that window's cap only (a long backlog is not scanned to the end on every batch).

    One statement per hundred stations: a capped count per station and window, each an
    index range scan on ``(station_id, received_at)``.
    """
    db = Petition._meta.database.obj
    when = time_converter(db)
    table, mark = Petition._meta.table_name, db.param
    # The table's name and parameter marks only:
    capped = (
        f'(SELECT COUNT(*) FROM (SELECT 1 FROM "{table}" WHERE "station_id" = {mark}'  # noqa: S608
        f' AND "received_at" >= {mark} LIMIT {mark}) AS "recent")'
    )
    counts: dict[str, list[int]] = {}
    for start in range(0, len(station_ids), _COUNTED_PER_STATEMENT):
        chunk = station_ids[start : start + _COUNTED_PER_STATEMENT]
        selects, params = [], []
        for index, station_id in enumerate(chunk):
            selects.append(f"SELECT {index}, " + ", ".join([capped] * len(windows)))
            for since, cap in windows:
                params += [station_id, when(since), cap]
        sql = " UNION ALL ".join(selects)
        for row in db.execute_sql(sql, params):
            counts[chunk[row[0]]] = [int(value) for value in row[1:]]
    return counts


def serial_of(number: object) -> int | None:
    """The serial of a petition number, or ``None`` if it is not one (the schema decides)."""
    if not isinstance(number, str):
        return None
    try:
        return parse_petition_number(number).serial
    except InvalidPetitionNumberError:
        return None


def highest_serials(
    station_ids: Iterable[str], db: peewee.Database | None = None
) -> dict[str, int]:
    """The highest serial applied from each of ``station_ids`` (absent: none yet)."""
    ids = list(dict.fromkeys(station_ids))
    if not ids:
        return {}
    query = PetitionSerial.select(PetitionSerial.station_id, PetitionSerial.highest).where(
        PetitionSerial.station_id.in_(ids)
    )
    return dict(query.tuples().execute(db))


def refuse_jumps(db: peewee.Database, numbers: Iterable[tuple[str, str, object]]) -> dict[str, str]:
    """Which of ``(tx_id, station_id, number)`` jump past :data:`SERIAL_JUMP_LIMIT`, and why.

    Each station's serials are taken in order from the highest already applied; one that is
    refused does not move the mark, so a single forged message cannot shift it at all.
    """
    by_station: dict[str, list[tuple[int, str]]] = {}
    for tx_id, station_id, number in numbers:
        serial = serial_of(number)
        if serial is not None:
            by_station.setdefault(station_id, []).append((serial, tx_id))
    known = highest_serials(by_station, db)
    refused: dict[str, str] = {}
    for station_id, serials in by_station.items():
        mark = known.get(station_id, 0)
        for serial, tx_id in sorted(serials):
            if serial > mark + SERIAL_JUMP_LIMIT:
                refused[tx_id] = (
                    f"petition serial {serial} jumps more than {SERIAL_JUMP_LIMIT} past "
                    f"{mark}, the highest applied from this station"
                )
            else:
                mark = max(mark, serial)
    return refused


def record_highest(db: peewee.Database, highest: dict[str, int]) -> None:
    """Raise each station's mark to the serials just applied (never lowers it).

    Called by the ingest inside the transaction that applied them.
    """
    if not highest:
        return
    now = utc_now()
    rows = [
        {"station_id": station_id, "highest": serial, "updated_at": now}
        for station_id, serial in sorted(highest.items())  # lock order: see _touch_stations
    ]
    raise_to = peewee.Case(
        None,
        [(PetitionSerial.highest < peewee.EXCLUDED.highest, peewee.EXCLUDED.highest)],
        PetitionSerial.highest,
    )
    PetitionSerial.insert_many(rows).on_conflict(
        conflict_target=[PetitionSerial.station_id],
        update={PetitionSerial.highest: raise_to, PetitionSerial.updated_at: now},
    ).execute(db)
