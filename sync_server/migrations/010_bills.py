"""010: bills and payments by QR (seed 002's utilities; ``sync_server/bills``).

- ``managementfee``: each unit's monthly building management fee, set by a building manager;
- ``payment`` and ``paymentitem``: the QR payments and the bills each pays (a bill has at most
  one paid item: ``paymentitem.paid_bill`` is unique);
- ``bankcallback``: every accepted bank callback, whose nonce is never accepted again.

New tables only: existing rows are untouched.
"""

from decimal import ROUND_HALF_EVEN

import peewee as pw
from peewee_migrate import Migrator


def _amount() -> pw.DecimalField:
    return pw.DecimalField(
        auto_round=False, decimal_places=2, max_digits=14, rounding=ROUND_HALF_EVEN
    )


def migrate(migrator: Migrator, database: pw.Database, *, fake: bool = False) -> None:
    """Create the four tables."""

    @migrator.create_model
    class ManagementFee(pw.Model):
        id = pw.AutoField()
        building = pw.CharField(max_length=64)
        unit = pw.CharField(max_length=16)
        period = pw.CharField(max_length=7)
        citizen_id = pw.CharField(max_length=13, index=True)
        amount = _amount()
        currency = pw.CharField(max_length=3)
        paid_reference = pw.CharField(max_length=20, null=True)
        updated_by = pw.CharField(max_length=64)
        updated_at = pw.DateTimeField()

        class Meta:
            table_name = "managementfee"
            indexes = [(("building", "unit", "period"), True)]

    @migrator.create_model
    class Payment(pw.Model):
        reference = pw.CharField(max_length=20, primary_key=True)
        kind = pw.CharField(max_length=8, default="live")
        station_id = pw.CharField(max_length=32, index=True)
        citizen_id = pw.CharField(max_length=13, index=True)
        amount = _amount()
        currency = pw.CharField(max_length=3)
        payload = pw.TextField()
        state = pw.CharField(max_length=8, default="pending")
        created_at = pw.DateTimeField()
        expires_at = pw.DateTimeField(index=True)
        settled_at = pw.DateTimeField(null=True)
        bank_txn = pw.CharField(max_length=64, null=True, unique=True)
        notice = pw.CharField(max_length=8, default="none", index=True)

        class Meta:
            table_name = "payment"

    @migrator.create_model
    class PaymentItem(pw.Model):
        id = pw.AutoField()
        payment = pw.ForeignKeyField(
            column_name="payment_reference",
            field="reference",
            model=migrator.orm["payment"],
            on_delete="CASCADE",
        )
        bill_id = pw.CharField(max_length=64, index=True)
        kind = pw.CharField(max_length=16)
        amount = _amount()
        period = pw.CharField(max_length=7, null=True)
        paid_bill = pw.CharField(max_length=64, null=True, unique=True)
        confirmation = pw.CharField(max_length=120, null=True)
        confirmed_at = pw.DateTimeField(null=True)

        class Meta:
            table_name = "paymentitem"
            indexes = [(("payment", "bill_id"), True)]

    @migrator.create_model
    class BankCallback(pw.Model):
        nonce = pw.CharField(max_length=64, primary_key=True)
        received_at = pw.DateTimeField(index=True)
        reference = pw.CharField(max_length=20)
        bank_txn = pw.CharField(max_length=64)
        outcome = pw.CharField(max_length=16)

        class Meta:
            table_name = "bankcallback"
