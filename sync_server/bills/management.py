"""The building management fee: the one biller that is ours.

A building manager (operator role ``building_manager``) sets each unit's fee for a month, by
uploading a CSV file (``unit,citizen_id,amount``: one line per unit, the resident who pays
it by the id on their card) or by editing a fee on the page (``sync_server/bills/views.py``).
:class:`ManagementBiller` lists a resident's unpaid fees and marks one paid when the bank
confirms it.
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal, InvalidOperation

from contract.identifiers import InvalidCitizenIdError, normalize_citizen_id
from sync_server.audit import audit
from sync_server.bills.billers import Bill, Customer
from sync_server.bills.models import ManagementFee
from sync_server.db import utc_now, write_transaction

NAME = "mgmt"
UNIT = re.compile(r"^[A-Za-z0-9-]{1,16}$")
PERIOD = re.compile(r"^[0-9]{4}-(0[1-9]|1[0-2])$")
#: A building code, as the records and the stations name it.
BUILDING = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}[a-z0-9]$")
#: The most lines one upload may carry (a large building has a few thousand units).
MAX_LINES = 5000


class FeeFileError(ValueError):
    """A line of the uploaded file is wrong; ``line`` is its number (1: the first line)."""

    def __init__(self, line: int, problem: str) -> None:
        super().__init__(f"line {line}: {problem}")
        self.line = line
        self.problem = problem


@dataclass(frozen=True)
class FeeLine:
    """One unit's fee as the manager states it."""

    unit: str
    citizen_id: str
    amount: Decimal


def parse_amount(text: str, currency: str) -> Decimal:
    """A positive amount in the currency's units (two decimals for THB, none for VND)."""
    try:
        amount = Decimal(text.strip().replace(",", ""))
    except InvalidOperation:
        raise ValueError("not an amount") from None
    places = 0 if currency == "VND" else 2
    if (
        not amount.is_finite()
        or amount <= 0
        or amount != amount.quantize(Decimal(1).scaleb(-places))
    ):
        raise ValueError("not an amount")
    return amount


def parse_fee_file(data: bytes, currency: str) -> list[FeeLine]:
    """The lines of an uploaded CSV file (UTF-8, a header line ``unit,citizen_id,amount``)."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise FeeFileError(1, "not UTF-8") from None
    rows = list(csv.reader(io.StringIO(text)))
    if not rows or [cell.strip().lower() for cell in rows[0]] != ["unit", "citizen_id", "amount"]:
        raise FeeFileError(1, "the first line must be unit,citizen_id,amount")
    if len(rows) > MAX_LINES + 1:
        raise FeeFileError(MAX_LINES + 2, "too many lines")
    lines: list[FeeLine] = []
    seen: set[str] = set()
    for number, row in enumerate(rows[1:], start=2):
        if not any(cell.strip() for cell in row):
            continue
        if len(row) != 3:
            raise FeeFileError(number, "three columns expected")
        unit, citizen, amount_text = (cell.strip() for cell in row)
        if not UNIT.match(unit) or unit in seen:
            raise FeeFileError(number, "unit: letters, digits and '-', once each")
        seen.add(unit)
        try:
            citizen_id = normalize_citizen_id(citizen)
        except InvalidCitizenIdError:
            raise FeeFileError(number, "citizen_id: not a valid id") from None
        try:
            amount = parse_amount(amount_text, currency)
        except ValueError:
            raise FeeFileError(number, "amount: not a positive amount") from None
        lines.append(FeeLine(unit, citizen_id, amount))
    return lines


def set_fees(building: str, period: str, lines: list[FeeLine], currency: str, actor: str) -> int:
    """Set (or replace) the unpaid fees of ``building`` for ``period``; a paid fee is kept as
    it is. Returns how many were set."""
    if not PERIOD.match(period):
        raise ValueError("period must be YYYY-MM")
    changed = 0
    with write_transaction():
        for line in lines:
            fee = ManagementFee.get_or_none(
                (ManagementFee.building == building)
                & (ManagementFee.unit == line.unit)
                & (ManagementFee.period == period)
            )
            if fee is not None and fee.paid_reference is not None:
                continue
            if fee is None:
                fee = ManagementFee(building=building, unit=line.unit, period=period)
            fee.citizen_id = line.citizen_id
            fee.amount = line.amount
            fee.currency = currency
            fee.updated_by = actor
            fee.updated_at = utc_now()
            fee.save()
            changed += 1
        audit(actor, "bills.fees.set", f"{building}/{period}", f"{changed}_set")
    return changed


def fees_of(building: str, period: str) -> list[ManagementFee]:
    """The fees of ``building`` for ``period``, by unit."""
    return list(
        ManagementFee.select()
        .where((ManagementFee.building == building) & (ManagementFee.period == period))
        .order_by(ManagementFee.unit)
    )


class ManagementBiller:
    """Our own biller: the building management fees in ``managementfee``."""

    name = NAME

    def __init__(self, label: str = "Building management") -> None:
        self.label = label

    def bills_for(self, customer: Customer) -> list[Bill]:
        """The customer's unpaid fees, oldest month first."""
        fees = (
            ManagementFee.select()
            .where(
                (ManagementFee.citizen_id == customer.citizen_id)
                & ManagementFee.paid_reference.is_null()
            )
            .order_by(ManagementFee.period, ManagementFee.id)
        )
        return [
            Bill(
                biller=NAME,
                reference=f"F{fee.id}",
                kind="management",
                amount=Decimal(fee.amount),
                currency=fee.currency,
                label=f"{self.label} {fee.building} {fee.unit}",
                period=fee.period,
            )
            for fee in fees
        ]

    def confirm_payment(self, bill: Bill, payment_reference: str, paid_at: datetime) -> str:
        """Mark the fee paid (once: a second call changes nothing)."""
        fee_id = int(bill.reference.removeprefix("F"))
        with write_transaction():
            ManagementFee.update(paid_reference=payment_reference).where(
                (ManagementFee.id == fee_id) & ManagementFee.paid_reference.is_null()
            ).execute()
        return f"MGMT-{fee_id}"
