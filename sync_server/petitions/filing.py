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
from collections.abc import Sequence
from datetime import datetime

import msgspec

from contract import PetitionFiled, Transaction
from contract.identifiers import is_minted_by
from sync_server.audit import audit
from sync_server.budgets.policy import FILING_SMS, BudgetPolicy
from sync_server.dashboard.alarms import Finding, raise_event
from sync_server.petitions.models import Petition
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
    rest are withheld, audited and alarmed (inside the caller's transaction).
    """
    limits = (policy or BudgetPolicy()).limits(FILING_SMS)
    per_station: dict[str, list[tuple[Transaction, PetitionFiled]]] = {}
    for tx, body in filings:
        per_station.setdefault(tx.station_id, []).append((tx, body))
    withheld: set[str] = set()
    for station_id, theirs in per_station.items():
        room = min(
            limit.max_hits - _received_since(station_id, now - limit.window, limit.max_hits)
            for limit in limits
        )
        over = theirs[max(room, 0) :]
        if not over:
            continue
        withheld.update(tx.tx_id for tx, _body in over)
        for _tx, body in over:
            audit(f"station:{station_id}", f"budget.{FILING_SMS}", body.number, "sms_withheld")
        message = (
            f"เกินโควตา SMS คำร้อง · {len(over)} petition SMS withheld, over its {FILING_SMS} budget"
        )
        raise_event(station_id, Finding("budget", "warning", message))
        log.warning("station %s: %d petition SMS withheld (over budget)", station_id, len(over))
    return withheld


def _received_since(station_id: str, since: datetime, cap: int) -> int:
    """How many petitions the station filed since ``since``, counted up to ``cap`` only
    (a long backlog is not scanned to the end on every batch)."""
    recent = (
        Petition.select(Petition.number)
        .where(Petition.station_id == station_id, Petition.received_at >= since)
        .limit(cap)
    )
    return Petition.select().from_(recent.alias("recent")).count()
