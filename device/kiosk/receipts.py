"""Receipts the kiosk prints besides a petition's (which ``Station.file_petition`` queues).

Only allowed kinds (``device.receipts.RECEIPT_KINDS``); never the insured-person record and
never a password: the receipt layer refuses those whatever a screen asks.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING

from contract import PetitionStatus
from hardware.printer import Receipt, ReceiptLine

if TYPE_CHECKING:
    from device.station import Station

#: Status names on a receipt, Thai / English (a receipt is bilingual, like the petition's).
STATUS_NAMES = {
    "received": "รับเรื่องแล้ว / Received",
    "in_review": "กำลังพิจารณา / In review",
    "waiting_for_citizen": "รอเอกสารเพิ่มเติม / Waiting for you",
    "approved": "อนุมัติ / Approved",
    "rejected": "ไม่อนุมัติ / Rejected",
    "closed": "เสร็จสิ้น / Closed",
}


def status_receipt(station: Station, petition: PetitionStatus) -> Receipt:
    """Where ``petition`` stands now, with the tracking QR code."""
    last = petition.history[-1].at if petition.history else petition.received_at
    return Receipt(
        title="สถานะคำร้อง / Petition status",
        issued_at=datetime.now(UTC),
        lines=(
            ReceiptLine(
                "status", "สถานะ / Status", STATUS_NAMES.get(petition.status, petition.status)
            ),
            ReceiptLine(
                "updated", "ปรับปรุงเมื่อ / Updated", last.astimezone().strftime("%d-%m-%Y %H:%M")
            ),
        ),
        number=petition.number,
        tracking_url=station.config.tracking_url.format(number=petition.number),
    )
