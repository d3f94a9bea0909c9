"""Bills and payments on the server: the QR payload, the billers, the webhook's rules.

Real parts: the simulated billers run as a child process speaking HTTP
(``devtools/paysim.py``); the webhook is called through the Flask app with real HMAC
signatures; the payload is checked by an EMVCo checker written apart from the product's
(``tests/emvco_check.py``).
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from devtools.paysim import PaySim
from devtools.synthetic import residents
from sync_server import create_app
from sync_server.bills import emvco
from sync_server.bills.billers import Customer
from sync_server.bills.emvco import Merchant, payment_payload
from sync_server.bills.management import FeeLine, set_fees
from sync_server.bills.models import BankCallback, Payment, PaymentItem
from sync_server.bills.payments import Billing, PaymentRefusedError
from sync_server.bills.webhook import NONCE, SIGNATURE, TIMESTAMP, signed_headers
from sync_server.db import database
from tests.emvco_check import check_payload, crc16_ccitt_false, walk, zbar

SECRET = b"bank-webhook-test-secret"
BILLER_ID = "010555512345601"
THAI = Merchant("THB", "DCS BILL PAYMENT", "BANGKOK", promptpay_biller_id=BILLER_ID)
VIET = Merchant(
    "VND", "DCS THANH TOAN", "HO CHI MINH", vietqr_bin="970436", vietqr_account="0011223344"
)


def test_the_crc_is_ccitt_false():
    # The catalogue check value of CRC-16/CCITT-FALSE ("123456789" -> 0x29B1).
    assert crc16_ccitt_false(b"123456789") == 0x29B1
    assert emvco.crc16("123456789") == "29B1"


def test_a_promptpay_bill_payment_payload_follows_the_rules():
    payload = payment_payload(THAI, Decimal("1234.50"), "P2ABCDEFGHIJKLMN")
    fields = check_payload(payload)
    account = dict(walk(fields["30"]))
    assert account == {"00": "A000000677010112", "01": BILLER_ID, "02": "P2ABCDEFGHIJKLMN"}
    assert (fields["01"], fields["53"], fields["54"], fields["58"]) == (
        "12",
        "764",
        "1234.50",
        "TH",
    )
    assert dict(walk(fields["62"]))["05"] == "P2ABCDEFGHIJKLMN"


def test_a_vietqr_payload_follows_the_rules():
    payload = payment_payload(VIET, Decimal("150000"), "P7ABCDEFGHIJKLMN", dynamic=False)
    fields = check_payload(payload)
    account = dict(walk(fields["38"]))
    assert account["00"] == "A000000727" and account["02"] == "QRIBFTTA"
    assert dict(walk(account["01"])) == {"00": "970436", "01": "0011223344"}
    assert (fields["01"], fields["53"], fields["54"], fields["58"]) == ("11", "704", "150000", "VN")
    assert dict(walk(fields["62"]))["08"] == "P7ABCDEFGHIJKLMN"


@pytest.mark.parametrize(
    ("merchant", "amount"), [(THAI, Decimal("1850.00")), (VIET, Decimal("150000"))]
)
def test_zbar_reads_the_kiosks_qr_code_back_to_a_payload_that_follows_the_rules(
    merchant, amount, tmp_path
):
    """Debian's zbarimg (a decoder we did not write) reads the QR the kiosk draws (segno, the
    kiosk's own settings), PromptPay and VietQR alike."""
    import segno

    payload = payment_payload(merchant, amount, "P7ABCDEFGHIJKLMN")
    picture = tmp_path / "qr.png"
    segno.make(payload, error="m", micro=False).save(picture, scale=7, border=4)
    read = zbar(picture)
    assert read == payload
    fields = check_payload(read)
    assert fields["01"] == "12" and fields["54"] == str(amount)
    assert fields["58"] == ("TH" if merchant is THAI else "VN")


@pytest.mark.parametrize(
    ("merchant", "amount"),
    [(THAI, 12.5), (THAI, Decimal("12.345")), (VIET, Decimal("1500.5")), (THAI, Decimal("-1"))],
)
def test_floats_and_wrong_precision_are_refused(merchant, amount):
    with pytest.raises(emvco.PayloadError):
        payment_payload(merchant, amount, "P2ABCDEFGHIJKLMN")


# --- the payment rules, with the simulated billers over HTTP --------------------------------


@pytest.fixture
def billers() -> Iterator[PaySim]:
    sim = PaySim("billers", "--currency", "THB", "--period", "2026-11").start()
    yield sim
    sim.stop()


@pytest.fixture
def app(sqlite_url: str, billers: PaySim):
    app = create_app(
        {
            "TESTING": True,
            "SECRET_KEY": "bills-test-secret",
            "DATABASE_URL": sqlite_url,
            "PAYMENT_COUNTRY": "TH",
            "PAYMENT_PROMPTPAY_BILLER_ID": BILLER_ID,
            "BANK_WEBHOOK_SECRET": SECRET.decode(),
            "BILLER_URLS": {name: f"{billers.url}/{name}" for name in ("electricity", "water")},
            "INSURANCE_PRODUCT_URL": f"{billers.url}/insurance",
        }
    )
    yield app
    database.close()


@pytest.fixture
def holder() -> Customer:
    resident = next(iter(residents(1)))
    return Customer(resident.citizen_id, resident.building)


@pytest.fixture
def billing(app, holder: Customer) -> Billing:
    set_fees(
        resident_building(holder),
        "2026-11",
        [FeeLine("12A", holder.citizen_id, Decimal("1850.00"))],
        "THB",
        "tests",
    )
    return Billing.from_config(app.config)


def resident_building(customer: Customer) -> str:
    return customer.building or "building-1"


def call_webhook(app, body: dict, *, headers: dict | None = None, secret: bytes = SECRET):
    raw = json.dumps(body).encode()
    return app.test_client().post(
        "/bills/webhook/bank", data=raw, headers=headers or signed_headers(secret, raw)
    )


def bank_body(payment: Payment, txn: str = "TXN-1", **changes) -> dict:
    body = {
        "reference": payment.reference,
        "amount": str(payment.amount),
        "currency": payment.currency,
        "bank_txn": txn,
        "paid_at": datetime.now(UTC).isoformat(),
    }
    return body | changes


def test_bills_come_from_every_biller_and_a_payment_takes_theirs_not_the_stations(billing, holder):
    listing = billing.bills_for(holder)
    kinds = sorted(bill.kind for bill in listing.bills)
    assert kinds == ["electricity", "management", "water"] and listing.unavailable == []
    assert all(isinstance(bill.amount, Decimal) for bill in listing.bills)
    chosen = [b.bill_id for b in listing.bills if b.kind in ("management", "electricity")]
    payment = billing.open_payment("st-a", holder, chosen)
    expected = sum(b.amount for b in listing.bills if b.bill_id in chosen)
    assert Decimal(payment.amount) == expected
    assert check_payload(payment.payload)["54"] == f"{expected:.2f}"
    with pytest.raises(PaymentRefusedError, match="not_your_bill"):
        billing.open_payment("st-a", Customer("1101700203451"), chosen)


def test_the_signed_callback_pays_once_and_the_biller_confirms(app, billing, holder):
    fee = next(b for b in billing.bills_for(holder).bills if b.kind == "management")
    payment = billing.open_payment("st-a", holder, [fee.bill_id])
    answer = call_webhook(app, bank_body(payment))
    assert answer.status_code == 200 and answer.json == {"result": "paid"}
    # The same payment again (a new nonce, the same bank transaction): nothing changes.
    again = call_webhook(app, bank_body(payment))
    assert again.json == {"result": "duplicate"}
    # Another bank transaction for the same reference: still paid once.
    assert call_webhook(app, bank_body(payment, "TXN-2")).json == {"result": "duplicate"}
    assert PaymentItem.select().where(PaymentItem.paid_bill == fee.bill_id).count() == 1
    assert billing.confirm_billers() == 1
    assert fee.bill_id not in {b.bill_id for b in billing.bills_for(holder).bills}
    # The notice for the station is due, with the biller's confirmation number.
    (due,) = billing.notices_due()
    assert due.reference == payment.reference and due.items[0].confirmation.startswith("MGMT-")


def test_forged_stale_and_replayed_callbacks_are_refused(app, billing, holder):
    fee = next(b for b in billing.bills_for(holder).bills if b.kind == "management")
    payment = billing.open_payment("st-a", holder, [fee.bill_id])
    body = bank_body(payment)
    raw = json.dumps(body).encode()
    forged = call_webhook(app, body, secret=b"not-the-banks-secret")
    assert forged.status_code == 401 and forged.json["error"] == "bad_signature"
    headers = signed_headers(SECRET, raw)
    tampered = dict(headers)
    tampered[NONCE] = headers[NONCE][::-1]
    assert call_webhook(app, body, headers=tampered).status_code == 401
    stale = signed_headers(SECRET, raw, timestamp=time.time() - 3600)
    assert call_webhook(app, body, headers=stale).json["error"] == "stale"
    assert Payment.get_by_id(payment.reference).state == "pending"
    assert call_webhook(app, body, headers=headers).json == {"result": "paid"}
    replay = call_webhook(app, body, headers=headers)
    assert replay.status_code == 409 and replay.json["error"] == "replayed"
    assert BankCallback.select().count() == 1
    assert {TIMESTAMP, SIGNATURE} <= set(headers)


def test_a_wrong_amount_does_not_pay(app, billing, holder):
    fee = next(b for b in billing.bills_for(holder).bills if b.kind == "management")
    payment = billing.open_payment("st-a", holder, [fee.bill_id])
    answer = call_webhook(app, bank_body(payment, amount="1.00"))
    assert answer.json == {"result": "mismatch"}
    assert Payment.get_by_id(payment.reference).state == "pending"


def test_an_unpaid_qr_expires_and_money_after_it_is_late(app, billing, holder):
    fee = next(b for b in billing.bills_for(holder).bills if b.kind == "management")
    payment = billing.open_payment("st-a", holder, [fee.bill_id])
    # The bank says it was paid after the QR's time: late, whatever the server's clock says.
    after = (payment.expires_at + timedelta(seconds=1)).isoformat()
    assert call_webhook(app, bank_body(payment, paid_at=after)).json == {"result": "late"}
    second = billing.open_payment("st-a", holder, [fee.bill_id])

    def clock() -> datetime:
        return (
            datetime.now(UTC)
            + billing.settings.qr_ttl
            + billing.settings.grace
            + timedelta(seconds=5)
        )

    late_billing = Billing(billing.settings, list(billing.billers.values()), clock=clock)
    assert late_billing.expire_due() >= 1
    assert Payment.get_by_id(second.reference).state == "expired"
    assert call_webhook(app, bank_body(second, "TXN-9")).json == {"result": "late"}
    assert PaymentItem.select().where(PaymentItem.paid_bill.is_null(False)).count() == 0
    (notice,) = [p for p in billing.notices_due() if p.reference == second.reference]
    assert notice.state == "late"  # recorded for a refund; the station hears "expired"


def test_two_qr_codes_for_one_bill_never_pay_it_twice(app, billing, holder):
    fee = next(b for b in billing.bills_for(holder).bills if b.kind == "management")
    first = billing.open_payment("st-a", holder, [fee.bill_id])
    later_qr = billing.later_qr("st-a", holder, fee)
    later = Payment.get(Payment.payload == later_qr)
    assert call_webhook(app, bank_body(first)).json == {"result": "paid"}
    assert call_webhook(app, bank_body(later, "TXN-3")).json == {"result": "late"}
    assert PaymentItem.select().where(PaymentItem.paid_bill == fee.bill_id).count() == 1


def test_a_plan_is_quoted_and_bought_through_the_same_qr(app, billing, holder):
    quotes = billing.quotes_for(holder)
    assert {q.plan for q in quotes} == {"basic", "plus"}
    payment = billing.buy_plan("st-a", holder, quotes[0].quote_id)
    assert Decimal(payment.amount) == quotes[0].amount
    assert call_webhook(app, bank_body(payment)).json == {"result": "paid"}
    billing.confirm_billers()
    (due,) = billing.notices_due()
    assert due.items[0].confirmation.startswith("HH-")


def test_the_building_manager_uploads_and_edits_the_months_fees(app, login_client, holder):
    from tests.operator_fixtures import create_test_operator, log_in

    client = log_in(app.test_client(), *create_test_operator("building_manager", "manager-1"))
    page = client.get("/bills/fees?building=building-1&period=2026-12")
    assert page.status_code == 200
    from tests.operator_fixtures import csrf_token

    token = csrf_token(page.text)
    other = list(residents(2))[1]
    csv = f"unit,citizen_id,amount\n12A,{holder.citizen_id},1850.00\n12B,{other.citizen_id},2100\n"
    import io

    answer = client.post(
        "/bills/fees/upload",
        data={
            "csrf_token": token,
            "building": "building-1",
            "period": "2026-12",
            "file": (io.BytesIO(csv.encode()), "fees.csv"),
        },
    )
    assert answer.status_code == 303
    page = client.get("/bills/fees?building=building-1&period=2026-12")
    assert 'data-unit="12A"' in page.text and 'data-unit="12B"' in page.text
    client.post(
        "/bills/fees/edit",
        data={
            "csrf_token": token,
            "building": "building-1",
            "period": "2026-12",
            "unit": "12B",
            "citizen_id": other.citizen_id,
            "amount": "2200.00",
        },
    )
    assert 'value="2200.00"' in client.get("/bills/fees?building=building-1&period=2026-12").text
    bad = io.BytesIO(b"unit,citizen_id,amount\n12C,123,abc\n")
    client.post(
        "/bills/fees/upload",
        data={
            "csrf_token": token,
            "building": "building-1",
            "period": "2026-12",
            "file": (bad, "f.csv"),
        },
    )
    page = client.get("/bills/fees?building=building-1&period=2026-12").text
    # The staff page speaks the operator's language (Thai by default).
    assert "บรรทัด 2" in page or "Line 2" in page
    officer = login_client("officer", app)
    assert officer.get("/bills/fees").status_code == 403
