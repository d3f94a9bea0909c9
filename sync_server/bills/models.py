"""The bills feature's tables: management fees, payments and the bank's callbacks.

Amounts are ``DecimalField`` (exact), never floats. A payment is the one place a bill is
recorded as paid: :mod:`sync_server.bills.payments` settles it exactly once.
"""

from __future__ import annotations

import peewee

from sync_server.db import BaseModel, utc_now

#: Every amount: up to 12 digits before the point, two after (VND uses none of them).
AMOUNT = {"max_digits": 14, "decimal_places": 2, "auto_round": False}


class ManagementFee(BaseModel):
    """One unit's building management fee for one month, set by the building manager."""

    id = peewee.AutoField()
    building = peewee.CharField(max_length=64)
    unit = peewee.CharField(max_length=16)
    period = peewee.CharField(max_length=7)  # YYYY-MM
    #: Who pays it: the unit's resident, by the id on their card.
    citizen_id = peewee.CharField(max_length=13, index=True)
    amount = peewee.DecimalField(**AMOUNT)
    currency = peewee.CharField(max_length=3)
    paid_reference = peewee.CharField(max_length=20, null=True)
    updated_by = peewee.CharField(max_length=64)
    updated_at = peewee.DateTimeField(default=utc_now)

    class Meta:
        table_name = "managementfee"
        indexes = ((("building", "unit", "period"), True),)


class Payment(BaseModel):
    """A QR a resident can pay: ``pending`` until the bank confirms (``paid``) or it expires
    (``expired``); money for an expired or superseded one is ``late`` (to refund)."""

    reference = peewee.CharField(max_length=20, primary_key=True)
    #: ``live``: shown at a station, which is told the outcome; ``later``: a bill's printed QR.
    kind = peewee.CharField(max_length=8, default="live")
    station_id = peewee.CharField(max_length=32, index=True)
    citizen_id = peewee.CharField(max_length=13, index=True)
    amount = peewee.DecimalField(**AMOUNT)
    currency = peewee.CharField(max_length=3)
    payload = peewee.TextField()
    state = peewee.CharField(max_length=8, default="pending")
    created_at = peewee.DateTimeField(default=utc_now)
    expires_at = peewee.DateTimeField(index=True)
    settled_at = peewee.DateTimeField(null=True)
    bank_txn = peewee.CharField(max_length=64, null=True, unique=True)
    #: ``due`` once the station must be told the outcome, ``sent`` after the broker has it.
    notice = peewee.CharField(max_length=8, default="none", index=True)

    class Meta:
        table_name = "payment"


class PaymentItem(BaseModel):
    """One bill a payment pays, and the biller's confirmation once it is paid."""

    id = peewee.AutoField()
    payment = peewee.ForeignKeyField(
        Payment, column_name="payment_reference", backref="items", on_delete="CASCADE"
    )
    bill_id = peewee.CharField(max_length=64, index=True)
    kind = peewee.CharField(max_length=16)
    amount = peewee.DecimalField(**AMOUNT)
    period = peewee.CharField(max_length=7, null=True)
    #: Set only when the payment is paid: a bill has at most one paid item.
    paid_bill = peewee.CharField(max_length=64, null=True, unique=True)
    confirmation = peewee.CharField(max_length=120, null=True)
    confirmed_at = peewee.DateTimeField(null=True)

    class Meta:
        table_name = "paymentitem"
        indexes = ((("payment", "bill_id"), True),)


class BankCallback(BaseModel):
    """Every signed callback accepted from the bank: its nonce is never accepted again."""

    nonce = peewee.CharField(max_length=64, primary_key=True)
    received_at = peewee.DateTimeField(default=utc_now, index=True)
    reference = peewee.CharField(max_length=20)
    bank_txn = peewee.CharField(max_length=64)
    outcome = peewee.CharField(max_length=16)

    class Meta:
        table_name = "bankcallback"


MODELS = [ManagementFee, Payment, PaymentItem, BankCallback]
