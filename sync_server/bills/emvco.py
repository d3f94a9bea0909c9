"""EMVCo merchant-presented QR payloads: PromptPay (Thailand) and VietQR (Vietnam, NAPAS).

A payload is a string of TLV fields (two-digit id, two-digit length, value), ending with the
CRC field ``63`` whose value is the CRC-16/CCITT-FALSE (polynomial 0x1021, initial 0xFFFF)
of everything before it including ``6304`` (EMV QRCPS Merchant-Presented Mode 1.1, 4.7.3).

Written here rather than taken from PyPI: ``promptpay-qr`` (0.1.2) builds only the tag-29
credit-transfer form with a float amount and no reference, and ``vietqr-emvco`` (1.0.0) takes
a float, truncates it with ``int()``, writes a made-up merchant name when none is given and
names no source repository. Neither builds PromptPay's tag-30 bill payment with its
references, which is what a biller collecting for others uses. The CRC is the standard
library's (``binascii.crc_hqx`` with 0xFFFF is CRC-16/CCITT-FALSE).
"""

from __future__ import annotations

import binascii
import re
from dataclasses import dataclass
from decimal import Decimal

#: The Bank of Thailand's application id for domestic bill payment (tag 30).
PROMPTPAY_BILL_AID = "A000000677010112"
#: NAPAS's application id for VietQR (tag 38) and its "transfer to an account" service.
VIETQR_AID = "A000000727"
VIETQR_TO_ACCOUNT = "QRIBFTTA"
#: ISO 4217 numeric codes and the minor units each is written with.
CURRENCY_CODES = {"THB": "764", "VND": "704"}
MINOR_UNITS = {"THB": 2, "VND": 0}
COUNTRIES = {"THB": "TH", "VND": "VN"}
#: EMVCo: 11 for a code used many times (a printed bill), 12 for one payment.
STATIC, DYNAMIC = "11", "12"

_ANS = re.compile(r"^[\x20-\x7e]*$")
_REFERENCE = re.compile(r"^[A-Z0-9]{1,25}$")


class PayloadError(ValueError):
    """A field cannot be written into an EMVCo payload (too long, not printable ASCII...)."""


def tlv(tag: str, value: str) -> str:
    """One field: ``tag`` (two digits), the value's length (two digits), the value."""
    if not re.fullmatch(r"[0-9]{2}", tag):
        raise PayloadError(f"bad tag {tag!r}")
    if not value or len(value) > 99 or not _ANS.match(value):
        raise PayloadError(f"field {tag}: 1 to 99 printable ASCII characters")
    return f"{tag}{len(value):02d}{value}"


def crc16(data: str) -> str:
    """CRC-16/CCITT-FALSE of ``data`` as four upper-case hex digits."""
    return f"{binascii.crc_hqx(data.encode('ascii'), 0xFFFF):04X}"


def with_crc(body: str) -> str:
    """``body`` followed by the CRC field computed over ``body + "6304"``."""
    head = body + "6304"
    return head + crc16(head)


def amount_text(amount: Decimal, currency: str) -> str:
    """The amount as tag 54 writes it: the currency's minor units, no sign, at most 13."""
    if not isinstance(amount, Decimal):
        raise PayloadError("amounts are Decimal, never float")
    units = MINOR_UNITS[currency]
    quantum = Decimal(1).scaleb(-units)
    if amount <= 0 or amount.quantize(quantum) != amount:
        raise PayloadError(f"{currency} amounts are positive with {units} decimals")
    text = f"{amount:.{units}f}"
    if len(text) > 13:
        raise PayloadError("amount too large for tag 54")
    return text


@dataclass(frozen=True)
class Merchant:
    """Who collects: the deployment's account at its bank (``sync_server.bills.config``)."""

    currency: str  # THB: PromptPay; VND: VietQR
    name: str  # tag 59, at most 25 characters
    city: str  # tag 60, at most 15 characters
    promptpay_biller_id: str | None = None  # 15 digits: tax id (13) + suffix (2)
    vietqr_bin: str | None = None  # the bank's 6-digit NAPAS BIN
    vietqr_account: str | None = None
    category: str = "4900"  # tag 52, ISO 18245: utilities


def _account_field(merchant: Merchant, reference: str, ref2: str | None) -> str:
    if merchant.currency == "THB":
        if not re.fullmatch(r"[0-9]{15}", merchant.promptpay_biller_id or ""):
            raise PayloadError("a PromptPay biller id is 15 digits")
        refs = tlv("02", reference) + (tlv("03", ref2) if ref2 else "")
        value = tlv("00", PROMPTPAY_BILL_AID) + tlv("01", merchant.promptpay_biller_id) + refs
        return tlv("30", value)
    if not re.fullmatch(r"[0-9]{6}", merchant.vietqr_bin or ""):
        raise PayloadError("a NAPAS BIN is 6 digits")
    if not re.fullmatch(r"[0-9A-Za-z]{1,19}", merchant.vietqr_account or ""):
        raise PayloadError("a VietQR account is 1 to 19 letters or digits")
    beneficiary = tlv("00", merchant.vietqr_bin) + tlv("01", merchant.vietqr_account)
    return tlv("38", tlv("00", VIETQR_AID) + tlv("01", beneficiary) + tlv("02", VIETQR_TO_ACCOUNT))


def payment_payload(
    merchant: Merchant,
    amount: Decimal,
    reference: str,
    *,
    dynamic: bool = True,
    ref2: str | None = None,
) -> str:
    """The payload of a QR paying ``amount`` to ``merchant`` quoting ``reference``.

    PromptPay carries the reference as the bill payment's Reference 1 (tag 30, sub 02) and
    ``ref2`` as Reference 2; VietQR as the purpose of the transfer (tag 62, sub 08), which
    NAPAS banks pass on as the transfer's content. Both also carry it as EMVCo's reference
    label (tag 62, sub 05).
    """
    if merchant.currency not in CURRENCY_CODES:
        raise PayloadError(f"unknown currency {merchant.currency!r}")
    if not _REFERENCE.match(reference):
        raise PayloadError("a reference is 1 to 25 upper-case letters or digits")
    if len(merchant.name) > 25 or len(merchant.city) > 15:
        raise PayloadError("merchant name at most 25, city at most 15 characters")
    additional = tlv("05", reference)
    if merchant.currency == "VND":
        additional += tlv("08", reference)
    body = (
        tlv("00", "01")
        + tlv("01", DYNAMIC if dynamic else STATIC)
        + _account_field(merchant, reference, ref2)
        + tlv("52", merchant.category)
        + tlv("53", CURRENCY_CODES[merchant.currency])
        + tlv("54", amount_text(amount, merchant.currency))
        + tlv("58", COUNTRIES[merchant.currency])
        + tlv("59", merchant.name)
        + tlv("60", merchant.city)
        + tlv("62", additional)
    )
    return with_crc(body)


def parse(payload: str) -> dict[str, str]:
    """The top-level fields of a payload (``{"00": "01", ...}``); raises
    :class:`PayloadError` when a length runs past the end or the CRC is wrong."""
    fields = split(payload)
    if "63" not in fields or not payload.endswith(fields["63"]) or len(fields["63"]) != 4:
        raise PayloadError("no CRC field at the end")
    if crc16(payload[:-4]) != fields["63"].upper():
        raise PayloadError("CRC mismatch")
    return fields


def split(data: str) -> dict[str, str]:
    """The TLV fields of ``data`` (a payload or a template's value), without checks."""
    fields: dict[str, str] = {}
    position = 0
    while position < len(data):
        head = data[position : position + 4]
        if not re.fullmatch(r"[0-9]{4}", head):
            raise PayloadError(f"bad field header at {position}")
        length = int(head[2:])
        value = data[position + 4 : position + 4 + length]
        if len(value) != length:
            raise PayloadError(f"field {head[:2]} runs past the end")
        fields[head[:2]] = value
        position += 4 + length
    return fields
