"""The bills and payments part of the wire contract (seed 002's utilities).

A station asks for the card holder's outstanding bills (``bills.list``), for a payment QR of
some of them (``bills.pay``) or for a health-insurance plan quote and its QR
(``insurance.quote`` / ``insurance.buy``) with :class:`contract.ServiceRequest`; the answers
carry :class:`BillItem`, :class:`PaymentQr` and :class:`PlanQuote`. When the bank confirms
a payment (or its QR expires unpaid) the server pushes a :class:`PaymentNotice` on the
station's ``payment`` topic at QoS 1.

Amounts are ``Decimal`` (JSON strings on the wire), never floats. The amount of a bill is the
biller's, never the station's: the server looks bills up again before it makes a QR.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Annotated, Literal

import msgspec

#: The currencies a deployment bills in: PromptPay (Thailand) and VietQR (Vietnam).
Currency = Literal["THB", "VND"]
#: What a bill is for (seed 002's list, and the insurance plan bought at the kiosk).
BillKind = Literal[
    "electricity", "water", "internet", "telecom", "tuition", "management", "insurance"
]
#: ``biller:reference``: the biller's name and its own reference of the bill.
BillId = Annotated[str, msgspec.Meta(pattern=r"^[a-z][a-z0-9_]{1,19}:[A-Za-z0-9-]{1,40}$")]
#: A payment's reference: what the QR carries and the bank's callback quotes back.
PaymentReference = Annotated[str, msgspec.Meta(pattern=r"^[A-Z0-9]{12,20}$")]
QuoteId = Annotated[str, msgspec.Meta(pattern=r"^[A-Za-z0-9-]{4,40}$")]
#: A billing period, ``YYYY-MM``.
Period = Annotated[str, msgspec.Meta(pattern=r"^[0-9]{4}-(0[1-9]|1[0-2])$")]
Text = Annotated[str, msgspec.Meta(max_length=120)]
#: An EMVCo merchant-presented QR payload (at most 512 characters by the specification).
QrPayload = Annotated[str, msgspec.Meta(min_length=20, max_length=512)]
PaymentState = Literal["pending", "paid", "expired"]


def _check_amount(amount: Decimal) -> None:
    if not amount.is_finite() or amount <= 0:
        raise ValueError("`amount` must be a positive amount")


class BillItem(msgspec.Struct, kw_only=True, frozen=True):
    """One outstanding bill of the card holder."""

    bill_id: BillId
    kind: BillKind
    biller: Text
    amount: Decimal
    currency: Currency
    period: Period | None = None
    due: date | None = None
    #: The bill's own static QR (its reference, its amount, no expiry), to print and pay
    #: later when the station cannot make a live payment.
    later_qr: QrPayload | None = None

    def __post_init__(self) -> None:
        _check_amount(self.amount)


class PaymentQr(msgspec.Struct, kw_only=True, frozen=True):
    """A payment the server opened: the QR to show, what it pays, until when it is valid."""

    reference: PaymentReference
    payload: QrPayload
    amount: Decimal
    currency: Currency
    expires_at: Annotated[datetime, msgspec.Meta(tz=True)]
    bill_ids: list[BillId] = []
    state: PaymentState = "pending"

    def __post_init__(self) -> None:
        _check_amount(self.amount)


class PlanQuote(msgspec.Struct, kw_only=True, frozen=True):
    """A household health-insurance plan offered to the card holder (seed 002)."""

    quote_id: QuoteId
    plan: Annotated[str, msgspec.Meta(pattern=r"^[a-z][a-z0-9_]{1,31}$")]
    insurer: Text
    members: Annotated[int, msgspec.Meta(ge=1, le=20)]
    amount: Decimal
    currency: Currency
    cover: Decimal  # the yearly cover per member
    valid_until: date

    def __post_init__(self) -> None:
        _check_amount(self.amount)


class PaymentNotice(msgspec.Struct, kw_only=True):
    """Server → station on ``payment``: a payment of this station was confirmed or expired.

    ``confirmations`` are the billers' own numbers (a policy number for insurance), printed
    on the receipt. ``v`` is the contract's schema version (``contract.messages``).
    """

    v: int = 1
    station_id: Annotated[str, msgspec.Meta(pattern=r"^[a-z0-9](?:[a-z0-9-]{1,30})[a-z0-9]$")]
    reference: PaymentReference
    state: Literal["paid", "expired"]
    amount: Decimal
    currency: Currency
    at: Annotated[datetime, msgspec.Meta(tz=True)]
    bill_ids: list[BillId] = []
    confirmations: list[Text] = []
