"""The kiosk service actions of bills and insurance (``contract/bills.py``).

Called by :class:`sync_server.kiosk_services.handlers.KioskServices` after it charged the
station's budget for the action. A station is an untrusted device, so besides that budget:
a card holder who does not live in the station's building also costs the ``lookup.foreign``
budget (bills name a person as much as a record does); a payment is opened only for bills
the billers list for that card holder now, at their amounts; and a payment's state is told
only to the station that opened it, for the card holder it was opened for.
"""

from __future__ import annotations

import logging
from decimal import Decimal

from contract import ServiceRequest, ServiceResponse
from contract.bills import BillItem, PaymentQr, PlanQuote
from sync_server.audit import audit
from sync_server.bills.billers import BillerError, Customer
from sync_server.bills.models import Payment
from sync_server.bills.payments import Billing, PaymentRefusedError, quantize
from sync_server.budgets import StationBudgets
from sync_server.budgets.policy import LOOKUP_FOREIGN
from sync_server.db import write_transaction
from sync_server.records.read import residence_of
from sync_server.replicas.enrolment import building_of_station

log = logging.getLogger(__name__)

ACTIONS = ("bills.list", "bills.pay", "bills.status", "insurance.quote", "insurance.buy")


def payment_qr(payment: Payment) -> PaymentQr:
    """A payment as the contract carries it."""
    from datetime import UTC

    expires = payment.expires_at
    return PaymentQr(
        reference=payment.reference,
        payload=payment.payload,
        amount=quantize(Decimal(payment.amount), payment.currency),
        currency=payment.currency,
        expires_at=expires if expires.tzinfo else expires.replace(tzinfo=UTC),
        bill_ids=[item.bill_id for item in payment.items],
        state="paid"
        if payment.state == "paid"
        else payment.state
        if payment.state == "pending"
        else "expired",
    )


class BillServices:
    """Answers the bills and insurance actions for one worker."""

    def __init__(self, billing: Billing | None, budgets: StationBudgets) -> None:
        self.billing = billing
        self.budgets = budgets

    def handle(self, station_id: str, request: ServiceRequest) -> ServiceResponse:
        """Do ``request.action`` (one of :data:`ACTIONS`) for the card holder in the request.

        Budget errors propagate (the caller answers them); a biller that cannot be reached is
        ``error``/``biller_unavailable``.
        """
        if self.billing is None:
            return ServiceResponse(status="refused", reason="bills_not_offered")
        if not request.citizen_id:
            return ServiceResponse(status="refused", reason="missing_citizen_id")
        customer = self._customer(station_id, request.citizen_id)
        try:
            if request.action == "bills.list":
                return self._list(station_id, customer)
            if request.action == "bills.pay":
                payment = self.billing.open_payment(station_id, customer, list(request.bill_ids))
                return ServiceResponse(status="ok", payment=payment_qr(payment))
            if request.action == "bills.status":
                found = (
                    self.billing.payment_of(station_id, customer.citizen_id, request.reference)
                    if request.reference
                    else None
                )
                if found is None:
                    return ServiceResponse(status="refused", reason="no_such_payment")
                return ServiceResponse(status="ok", payment=payment_qr(found))
            if request.action == "insurance.quote":
                return self._quotes(station_id, customer)
            if not request.quote_id:
                return ServiceResponse(status="refused", reason="missing_quote_id")
            payment = self.billing.buy_plan(station_id, customer, request.quote_id)
            return ServiceResponse(status="ok", payment=payment_qr(payment))
        except PaymentRefusedError as exc:
            self._audit(station_id, request.action, customer.citizen_id, exc.reason)
            return ServiceResponse(status="refused", reason=exc.reason)
        except BillerError:
            return ServiceResponse(status="error", reason="biller_unavailable")

    def _customer(self, station_id: str, citizen_id: str) -> Customer:
        exists, building = residence_of(citizen_id)
        home = building_of_station(station_id)
        if exists and (home is None or building != home):
            self.budgets.charge(station_id, [LOOKUP_FOREIGN])
        return Customer(citizen_id=citizen_id, building=building)

    def _list(self, station_id: str, customer: Customer) -> ServiceResponse:
        assert self.billing is not None
        listing = self.billing.bills_for(customer)
        items = [
            BillItem(
                bill_id=bill.bill_id,
                kind=bill.kind,
                biller=bill.label,
                amount=quantize(bill.amount, bill.currency),
                currency=bill.currency,
                period=bill.period,
                due=bill.due,
                later_qr=self.billing.later_qr(station_id, customer, bill),
            )
            for bill in listing.bills
        ]
        self._audit(station_id, "bills.list", customer.citizen_id, f"{len(items)}_found")
        reason = "some_unavailable" if listing.unavailable else None
        return ServiceResponse(status="ok", bills=items, reason=reason)

    def _quotes(self, station_id: str, customer: Customer) -> ServiceResponse:
        assert self.billing is not None
        quotes = [
            PlanQuote(
                quote_id=q.quote_id,
                plan=q.plan,
                insurer=q.insurer,
                members=q.members,
                amount=quantize(q.amount, q.currency),
                currency=q.currency,
                cover=q.cover,
                valid_until=q.valid_until,
            )
            for q in self.billing.quotes_for(customer)
        ]
        self._audit(station_id, "insurance.quote", customer.citizen_id, f"{len(quotes)}_found")
        return ServiceResponse(status="ok", quotes=quotes)

    @staticmethod
    def _audit(station_id: str, action: str, citizen_id: str, outcome: str) -> None:
        with write_transaction():
            audit(f"station:{station_id}", action, citizen_id, outcome)
