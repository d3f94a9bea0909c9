"""Receipts the kiosk prints besides a petition's (which ``Station.file_petition`` queues).

Only allowed kinds (``device.receipts.RECEIPT_KINDS``); never the insured-person record and
never a password: the receipt layer refuses those whatever a screen asks.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import TYPE_CHECKING

from contract import PetitionStatus
from contract.bills import BillItem, PaymentNotice
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


#: What a bill is for, Thai / English, on a receipt.
BILL_KINDS = {
    "electricity": "ค่าไฟฟ้า / Electricity",
    "water": "ค่าน้ำประปา / Water",
    "internet": "ค่าอินเทอร์เน็ต / Internet",
    "telecom": "ค่าโทรศัพท์ / Telecom",
    "tuition": "ค่าเล่าเรียน / Tuition",
    "management": "ค่าส่วนกลาง / Management fee",
    "insurance": "ประกันสุขภาพ / Health insurance",
}


def money_text(amount: Decimal, currency: str) -> str:
    """``1,234.50 THB`` or ``150,000 VND`` (dong have no decimals)."""
    places = 0 if currency == "VND" else 2
    return f"{amount:,.{places}f} {currency}"


def paid_receipt(items: list[BillItem], notice: PaymentNotice) -> Receipt:
    """What a payment by QR paid, with the payment's reference and the billers' numbers."""
    lines = [
        ReceiptLine(
            f"bill{index}",
            BILL_KINDS.get(item.kind, item.kind) + (f" {item.period}" if item.period else ""),
            money_text(item.amount, item.currency),
        )
        for index, item in enumerate(items, start=1)
    ]
    lines.append(ReceiptLine("total", "รวม / Total", money_text(notice.amount, notice.currency)))
    lines += [
        ReceiptLine(f"confirmation{index}", "เลขยืนยัน / Confirmation", number)
        for index, number in enumerate(notice.confirmations, start=1)
    ]
    return Receipt(
        title="ชำระเงินแล้ว / Paid",
        issued_at=notice.at,
        lines=tuple(lines),
        number=notice.reference,
        number_label="เลขอ้างอิง / Reference",
        # The reference again as a QR code, for the biller's or the bank's staff to scan.
        tracking_url=notice.reference,
        tracking_caption="เลขอ้างอิงการชำระ / Payment reference",
    )


def later_receipt(item: BillItem) -> Receipt:
    """A bill's own QR to pay later from a banking app (printed when the station is offline)."""
    assert item.later_qr is not None
    lines = [
        ReceiptLine("bill", "รายการ / Bill", BILL_KINDS.get(item.kind, item.kind)),
        ReceiptLine("biller", "ผู้เรียกเก็บ / Biller", item.biller),
        ReceiptLine("amount", "จำนวนเงิน / Amount", money_text(item.amount, item.currency)),
    ]
    if item.period:
        lines.append(ReceiptLine("period", "งวด / Period", item.period))
    return Receipt(
        title="สแกนเพื่อชำระภายหลัง / Scan to pay later",
        issued_at=datetime.now(UTC),
        lines=tuple(lines),
        tracking_url=item.later_qr,
        tracking_caption="สแกนด้วยแอปธนาคาร / Scan with your banking app",
    )
