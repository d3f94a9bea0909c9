"""Payments by QR: open one for some bills or a plan, settle it exactly once, expire it.

:class:`Billing` is the one place that decides what a payment pays and whether it is paid.

- **Opening** (:meth:`Billing.open_payment`): the bills are looked up again from their
  billers for the card holder (a station names bills, never amounts), the amount is their
  sum, the reference is random, the QR expires after ``PAYMENT_QR_TTL_S``.
- **Settling** (:meth:`Billing.settle`, called by the bank's webhook): in one transaction, a
  pending payment whose amount and currency match and that was paid before it expired
  becomes ``paid``, and each of its bills gets its one paid item (``paymentitem.paid_bill`` is
  unique). A second callback for it is a ``duplicate`` and changes nothing; money for an
  expired payment, or for a bill another payment already paid, is ``late``: recorded, never
  paid twice (the bank refunds it).
- **Afterwards** (:meth:`Billing.follow_up`, run by the kiosk-services worker): billers are
  told of paid bills until each has confirmed, pending QRs past their time (and the grace
  for a callback in flight) expire, and the station that showed a QR is told its outcome
  (``sync_server/bills/notices.py``).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

import peewee

from sync_server.audit import audit
from sync_server.bills.billers import (
    Bill,
    Biller,
    BillerError,
    Customer,
    HttpBiller,
    HttpProduct,
    Product,
    Quote,
)
from sync_server.bills.config import PaymentSettings, settings_from_config
from sync_server.bills.emvco import MINOR_UNITS, payment_payload
from sync_server.bills.management import ManagementBiller
from sync_server.bills.models import BankCallback, Payment, PaymentItem
from sync_server.db import utc_now, write_transaction

log = logging.getLogger(__name__)

#: How long a paid payment's notice waits for its billers' confirmations: the resident at
#: the kiosk is told it is paid either way (the receipt then lacks the missing numbers).
NOTICE_PATIENCE = timedelta(seconds=10)
#: The biller name of insurance plans (their bill id is ``insurance:<quote id>``).
INSURANCE = "insurance"


class PaymentRefusedError(ValueError):
    """The payment cannot be opened; ``reason`` is a code the kiosk translates."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class Listing:
    """A customer's outstanding bills, and the billers that could not be asked."""

    bills: list[Bill]
    unavailable: list[str]


def _aware(value: datetime) -> datetime:
    from datetime import UTC

    return value if value.tzinfo else value.replace(tzinfo=UTC)


def quantize(amount: Decimal, currency: str) -> Decimal:
    """``amount`` with the currency's minor units (``150000`` dong, ``1234.50`` baht)."""
    return Decimal(amount).quantize(Decimal(1).scaleb(-MINOR_UNITS[currency]))


def new_reference() -> str:
    """A random payment reference: ``P`` and 15 base-32 characters (75 bits)."""
    return "P" + base64.b32encode(secrets.token_bytes(10)).decode()[:15]


class Billing:
    """The billers, the insurance product and the payment rules of one deployment."""

    def __init__(
        self,
        settings: PaymentSettings,
        billers: list[Biller],
        product: Product | None = None,
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        self.settings = settings
        self.billers = {biller.name: biller for biller in billers}
        self.product = product
        self._clock = clock

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> Billing:
        """Our management fee biller, the HTTP billers of ``BILLER_URLS`` and the product."""
        token = config.get("BILLER_TOKEN")
        billers: list[Biller] = [ManagementBiller()]
        for name, url in dict(config.get("BILLER_URLS") or {}).items():
            billers.append(HttpBiller(name, url, token=token))
        product_url = config.get("INSURANCE_PRODUCT_URL")
        product = HttpProduct(INSURANCE, product_url, token=token) if product_url else None
        return cls(settings_from_config(config), billers, product)

    # -- looking bills up --------------------------------------------------------------

    def bills_for(self, customer: Customer) -> Listing:
        """Every biller's outstanding bills in the deployment's currency, minus those a
        payment here already paid (a biller may take a while to take them off its list)."""
        bills: list[Bill] = []
        unavailable: list[str] = []
        for name, biller in self.billers.items():
            try:
                found = biller.bills_for(customer)
            except BillerError as exc:
                log.warning("biller %s unavailable: %s", name, exc)
                unavailable.append(name)
                continue
            bills += [bill for bill in found if bill.currency == self.settings.currency]
        paid = set(
            PaymentItem.select(PaymentItem.paid_bill)
            .where(PaymentItem.paid_bill.in_([bill.bill_id for bill in bills]))
            .tuples()
            .iterator()
        )
        paid_ids = {row[0] for row in paid}
        return Listing([bill for bill in bills if bill.bill_id not in paid_ids], unavailable)

    def later_qr(self, station_id: str, customer: Customer, bill: Bill) -> str:
        """The bill's printable QR: a payment of it alone that lasts ``PAYMENT_LATER_TTL_S``,
        with a reference derived from the bill and its amount (so listing twice makes one)."""
        digest = hmac.new(
            self.settings.secret, f"{bill.bill_id}|{bill.amount}".encode(), hashlib.sha256
        ).digest()
        reference = "L" + base64.b32encode(digest).decode()[:15]
        existing = Payment.get_or_none(Payment.reference == reference)
        if existing is not None:
            return existing.payload
        payment = self._create(station_id, customer, [bill], reference, kind="later")
        return payment.payload

    # -- opening a payment -------------------------------------------------------------

    def open_payment(self, station_id: str, customer: Customer, bill_ids: list[str]) -> Payment:
        """A live payment of ``bill_ids``, which must all be the customer's outstanding bills."""
        if not bill_ids or len(set(bill_ids)) != len(bill_ids):
            raise PaymentRefusedError("no_bills")
        listing = self.bills_for(customer)
        by_id = {bill.bill_id: bill for bill in listing.bills}
        if any(bill_id not in by_id for bill_id in bill_ids):
            # Paid meanwhile, unknown, or someone else's: the station asked for it anyway.
            raise PaymentRefusedError("not_your_bill")
        return self._create(station_id, customer, [by_id[b] for b in bill_ids], new_reference())

    def quotes_for(self, customer: Customer) -> list[Quote]:
        """The household plans offered to the customer (none without a product)."""
        if self.product is None:
            return []
        return [
            q for q in self.product.quotes_for(customer) if q.currency == self.settings.currency
        ]

    def buy_plan(self, station_id: str, customer: Customer, quote_id: str) -> Payment:
        """A live payment of one of the plans the product quotes the customer now."""
        quote = next((q for q in self.quotes_for(customer) if q.quote_id == quote_id), None)
        if quote is None or quote.valid_until < self._clock().date():
            raise PaymentRefusedError("no_such_quote")
        bill = Bill(
            biller=INSURANCE,
            reference=quote.quote_id,
            kind="insurance",
            amount=quote.amount,
            currency=quote.currency,
            label=quote.insurer,
            period=None,
        )
        return self._create(station_id, customer, [bill], new_reference())

    def _create(
        self,
        station_id: str,
        customer: Customer,
        bills: list[Bill],
        reference: str,
        kind: str = "live",
    ) -> Payment:
        currency = self.settings.currency
        total = quantize(sum((bill.amount for bill in bills), Decimal(0)), currency)
        now = self._clock()
        ttl = self.settings.qr_ttl if kind == "live" else self.settings.later_ttl
        payload = payment_payload(self.settings.merchant, total, reference, dynamic=kind == "live")
        with write_transaction():
            payment = Payment.create(
                reference=reference,
                kind=kind,
                station_id=station_id,
                citizen_id=customer.citizen_id,
                amount=total,
                currency=currency,
                payload=payload,
                created_at=now,
                expires_at=now + ttl,
            )
            for bill in bills:
                PaymentItem.create(
                    payment=payment,
                    bill_id=bill.bill_id,
                    kind=bill.kind,
                    amount=quantize(bill.amount, currency),
                    period=bill.period,
                )
            audit(f"station:{station_id}", f"bills.open.{kind}", customer.citizen_id, reference)
        return payment

    def payment_of(self, station_id: str, citizen_id: str, reference: str) -> Payment | None:
        """The payment ``reference`` if this station opened it for this card holder."""
        return Payment.get_or_none(
            (Payment.reference == reference)
            & (Payment.station_id == station_id)
            & (Payment.citizen_id == citizen_id)
        )

    # -- the bank's confirmation -------------------------------------------------------

    def settle(
        self,
        reference: str,
        amount: Decimal,
        currency: str,
        bank_txn: str,
        paid_at: datetime,
        nonce: str,
    ) -> str:
        """Record the bank's confirmation; returns the outcome.

        ``paid`` (now paid), ``duplicate`` (already paid by this bank transaction, or this
        payment already paid: nothing changes), ``late`` (expired, or a bill already paid by
        another payment: the money is to be refunded), ``mismatch`` (amount or currency
        differs: not paid), ``unknown`` (no such reference) or ``replayed`` (this callback's
        nonce was accepted before: nothing is looked at). The callback is recorded with its
        outcome in the same transaction, so a nonce is accepted once.
        """
        try:
            with write_transaction():
                if BankCallback.get_or_none(BankCallback.nonce == nonce) is not None:
                    return "replayed"
                outcome = self._settle(reference, amount, currency, bank_txn, paid_at)
                BankCallback.create(
                    nonce=nonce,
                    received_at=self._clock(),
                    reference=reference[:20],
                    bank_txn=bank_txn,
                    outcome=outcome,
                )
                return outcome
        except peewee.IntegrityError:
            # A concurrent callback won the race for the nonce, the bank transaction or a bill.
            if BankCallback.get_or_none(BankCallback.nonce == nonce) is not None:
                return "replayed"
            return "duplicate" if self._paid_by(bank_txn) else "late"

    @staticmethod
    def _paid_by(bank_txn: str) -> bool:
        return Payment.get_or_none(Payment.bank_txn == bank_txn) is not None

    def _settle(
        self, reference: str, amount: Decimal, currency: str, bank_txn: str, paid_at: datetime
    ) -> str:
        payment = Payment.get_or_none(Payment.reference == reference)
        if payment is None:
            return "unknown"
        actor = "bank"
        if payment.state == "paid":
            audit(actor, "bills.callback", reference, "duplicate")
            return "duplicate"
        if currency != payment.currency or quantize(amount, currency) != quantize(
            payment.amount, currency
        ):
            audit(actor, "bills.callback", reference, "mismatch")
            return "mismatch"
        expired = payment.state != "pending" or paid_at > _aware(payment.expires_at)
        items = list(payment.items)
        taken = PaymentItem.select().where(
            PaymentItem.paid_bill.in_([item.bill_id for item in items])
        )
        if expired or taken.exists():
            Payment.update(state="late", settled_at=self._clock()).where(
                Payment.reference == reference
            ).execute()
            audit(actor, "bills.callback", reference, "late")
            return "late"
        now = self._clock()
        Payment.update(
            state="paid",
            bank_txn=bank_txn,
            settled_at=now,
            notice="due" if payment.kind == "live" else "none",
        ).where((Payment.reference == reference) & (Payment.state == "pending")).execute()
        for item in items:
            PaymentItem.update(paid_bill=item.bill_id).where(PaymentItem.id == item.id).execute()
        audit(actor, "bills.callback", reference, "paid")
        return "paid"

    # -- afterwards --------------------------------------------------------------------

    def expire_due(self) -> int:
        """Expire pending payments past their time and the grace; returns how many."""
        cutoff = self._clock() - self.settings.grace
        with write_transaction():
            live = (
                Payment.update(state="expired", settled_at=self._clock(), notice="due")
                .where(
                    (Payment.state == "pending")
                    & (Payment.kind == "live")
                    & (Payment.expires_at < cutoff)
                )
                .execute()
            )
            later = (
                Payment.update(state="expired", settled_at=self._clock())
                .where(
                    (Payment.state == "pending")
                    & (Payment.kind == "later")
                    & (Payment.expires_at < cutoff)
                )
                .execute()
            )
        return live + later

    def confirm_billers(self) -> int:
        """Tell the billers of paid bills they have not confirmed yet; returns how many
        confirmed now (a biller that is down is asked again next time)."""
        pending = (
            PaymentItem.select(PaymentItem, Payment)
            .join(Payment)
            .where((Payment.state == "paid") & PaymentItem.confirmation.is_null())
            .limit(100)
        )
        confirmed = 0
        for item in list(pending):
            payment = item.payment
            biller_name, _, bill_reference = item.bill_id.partition(":")
            bill = Bill(
                biller=biller_name,
                reference=bill_reference,
                kind=item.kind,
                amount=Decimal(item.amount),
                currency=payment.currency,
                label="",
                period=item.period,
            )
            paid_at = _aware(payment.settled_at)
            try:
                if biller_name == INSURANCE and self.product is not None:
                    quote = Quote(
                        bill_reference,
                        "",
                        "",
                        1,
                        bill.amount,
                        bill.currency,
                        bill.amount,
                        paid_at.date(),
                    )
                    number = self.product.confirm_payment(quote, payment.reference, paid_at)
                elif biller_name in self.billers:
                    number = self.billers[biller_name].confirm_payment(
                        bill, payment.reference, paid_at
                    )
                else:
                    log.error("paid bill of an unknown biller %s", biller_name)
                    continue
            except BillerError as exc:
                log.warning("biller %s did not confirm yet: %s", biller_name, exc)
                continue
            with write_transaction():
                PaymentItem.update(confirmation=number, confirmed_at=self._clock()).where(
                    PaymentItem.id == item.id
                ).execute()
            confirmed += 1
        return confirmed

    def notices_due(self) -> list[Payment]:
        """Live payments whose station must still be told the outcome (paid ones once every
        biller has confirmed, so the receipt carries their numbers)."""
        due = list(Payment.select().where(Payment.notice == "due").limit(100))
        ready = []
        patience = self._clock() - NOTICE_PATIENCE
        for payment in due:
            waiting = any(i.confirmation is None for i in payment.items)
            if payment.state == "paid" and waiting and _aware(payment.settled_at) > patience:
                continue
            ready.append(payment)
        return ready

    @staticmethod
    def notice_sent(reference: str) -> None:
        """The broker has the notice of ``reference``."""
        with write_transaction():
            Payment.update(notice="sent").where(Payment.reference == reference).execute()

    def follow_up(self) -> None:
        """One round of the worker's chores: confirm billers, expire QRs."""
        self.confirm_billers()
        self.expire_due()
