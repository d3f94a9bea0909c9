"""Receipts the kiosk prints besides a petition's (which ``Station.file_petition`` queues).

Only allowed kinds (``device.receipts.RECEIPT_KINDS``); never the insured-person record and
never a password: the receipt layer refuses those whatever a screen asks.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING

from contract import PetitionStatus
from contract.local_time import format_moment
from contract.vocabulary import status_word
from hardware.printer import Receipt, ReceiptLine

if TYPE_CHECKING:
    from device.station import Station


def status_words(status: str) -> str:
    """A status on a receipt: Thai / English (a receipt is bilingual, like the petition's),
    in the words the screens, the tracking page and the SMS use (contract/vocabulary.py)."""
    return f"{status_word(status, 'th')} / {status_word(status, 'en')}"


def status_receipt(
    station: Station, petition: PetitionStatus, now: datetime | None = None
) -> Receipt:
    """Where ``petition`` stands now, with the tracking QR code."""
    last = petition.history[-1].at if petition.history else petition.received_at
    return Receipt(
        title="สถานะคำร้อง / Petition status",
        issued_at=now or datetime.now(UTC),
        lines=(
            ReceiptLine("status", "สถานะ / Status", status_words(petition.status)),
            ReceiptLine(
                "updated",
                "ปรับปรุงเมื่อ / Updated",
                format_moment(last, station.config.local_time, "th"),
            ),
        ),
        number=petition.number,
        tracking_url=station.config.tracking_url.format(number=petition.number),
    )
