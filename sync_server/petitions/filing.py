"""Applying ``petition.filed``: the petition's row and seed 004's SMS, for the ingest worker.

The ingest worker inserts both in bulk, in the transaction that records the transaction id,
so a filed petition and its SMS exist together or not at all, and a redelivery (already
applied) queues nothing. The SMS's ``dedupe_key`` is the petition number: even a second
transaction with the same number could not text twice.
"""

from __future__ import annotations

import msgspec

from contract import PetitionFiled, Transaction
from contract.identifiers import is_minted_by
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
