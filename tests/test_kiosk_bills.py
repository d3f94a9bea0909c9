"""Bills and insurance at the kiosk, in Chromium, by taps, with the real parts.

Mosquitto, pcscd with the virtual card, the kiosk-services worker pushing payment notices,
the simulated billers and bank as child processes over HTTP (``devtools/paysim.py``), the
server's webhook served on loopback, the virtual printer. The QR on the screen is read back
from a Chromium screenshot by Debian's ``zbarimg`` (a decoder we did not write) and checked
against the EMVCo rules by ``tests/emvco_check.py``; the simulated bank pays exactly that.
"""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect

from devtools.cardstack import LocalPcscd
from devtools.paysim import PaySim
from sync_server.bills.management import FeeLine, set_fees
from sync_server.bills.models import Payment, PaymentItem
from sync_server.db import database
from tests.emvco_check import check_payload, walk, zbar
from tests.helpers import screens_dir
from tests.kiosk_browser import KioskStack, chromium, open_page, settled_content, wait_for
from tests.test_kiosk_as_used import tap as tap_here
from tests.web_browser import serving

SCREENS = screens_dir()
SECRET = "kiosk-bank-secret-for-tests"
BILLER_ID = "010555512345601"
PERIOD = "2026-11"


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with chromium() as (_, browser):
        yield browser


@pytest.fixture
def billers() -> Iterator[PaySim]:
    sim = PaySim("billers", "--currency", "THB", "--period", PERIOD).start()
    yield sim
    sim.stop()


@pytest.fixture
def stack(tmp_path: Path, pcscd: LocalPcscd, billers: PaySim) -> Iterator[KioskStack]:
    kiosk = KioskStack(
        tmp_path,
        pcscd,
        server_config={
            "PAYMENT_COUNTRY": "TH",
            "PAYMENT_PROMPTPAY_BILLER_ID": BILLER_ID,
            "BANK_WEBHOOK_SECRET": SECRET,
            "PAYMENT_POLL_S": 0.2,
            "BILLER_URLS": {"electricity": f"{billers.url}/electricity"},
            "INSURANCE_PRODUCT_URL": f"{billers.url}/insurance",
        },
    )
    try:
        kiosk.start()
        resident = kiosk.resident(0)
        with database.connection_context():
            set_fees(
                resident.building,
                PERIOD,
                [FeeLine("12A", resident.citizen_id, Decimal("1850.00"))],
                "THB",
                "tests",
            )
        yield kiosk
    finally:
        kiosk.stop()


@pytest.fixture
def bank(stack: KioskStack, tmp_path: Path) -> Iterator[PaySim]:
    secret_file = tmp_path / "bank-secret"
    secret_file.write_text(SECRET)
    with serving(stack.app) as base:
        sim = PaySim(
            "bank", "--webhook", f"{base}/bills/webhook/bank", "--secret-file", str(secret_file)
        ).start()
        yield sim
        sim.stop()


def tap(page: Page, target) -> None:  # type: ignore[no-untyped-def]
    """Scroll ``target`` onto the screen as a finger would, then tap it."""
    target.scroll_into_view_if_needed()
    tap_here(page, target)


def to_bills(page: Page, stack: KioskStack, lang: str = "en") -> None:
    stack.insert(0)
    expect(page.locator("[data-summary]")).to_be_visible(timeout=30_000)
    tap(page, page.locator("[data-service='bills.start']"))
    expect(page.locator("[data-bills]")).to_be_visible(timeout=20_000)


def choose_only(page: Page, kind: str) -> None:
    for box in page.locator("[data-bill] input[type=checkbox]").all():
        if box.is_checked():
            tap(page, box)
    tap(page, page.locator(f"[data-bill={kind}] input[type=checkbox]"))


def test_see_two_bills_pay_the_management_fee_by_qr_and_get_the_receipt(
    stack: KioskStack, bank: PaySim, browser: Browser, tmp_path: Path
):
    page = open_page(browser, stack.url + "en/", "en", touch=True)
    to_bills(page, stack)
    assert page.locator("[data-bill]").count() >= 2
    expect(page.locator("[data-bill=management]")).to_contain_text("1,850.00")
    expect(page.locator("[data-bill=electricity]")).to_be_visible()
    page.screenshot(path=SCREENS / "kiosk-bills-list-en.png")

    choose_only(page, "management")
    tap(page, page.locator("[data-action=pay]"))
    expect(page.locator("[data-qr] svg")).to_be_visible(timeout=20_000)
    reference = page.locator("[data-reference]").inner_text()
    page.screenshot(path=SCREENS / "kiosk-pay-qr-en.png")
    shot = tmp_path / "qr-screen.png"
    page.screenshot(path=shot)

    payload = zbar(shot)
    fields = check_payload(payload)
    account = dict(walk(fields["30"]))
    assert account["00"] == "A000000677010112" and account["01"] == BILLER_ID
    assert account["02"] == reference
    assert (fields["53"], fields["54"], fields["58"], fields["01"]) == (
        "764",
        "1850.00",
        "TH",
        "12",
    )
    assert dict(walk(fields["62"]))["05"] == reference

    answer = bank.post("/scan", {"payload": payload})
    assert answer["status"] == 200 and answer["answer"] == {"result": "paid"}
    expect(page.locator("[data-paid]")).to_be_visible(timeout=30_000)
    expect(page.locator("[data-reference]")).to_have_text(reference)
    page.screenshot(path=SCREENS / "kiosk-pay-paid-en.png")

    job = wait_for(lambda: [j for j in stack.printer.jobs() if j.complete], "the receipt")[0]
    assert reference.encode() in job.data()  # the reference's QR code on the receipt
    # The bank calls again (its retry): still one paid item for the fee.
    again = bank.post("/scan", {"payload": payload})
    assert again["answer"]["result"] in ("duplicate", "late")
    with database.connection_context():
        assert Payment.get_by_id(reference).state == "paid"
        assert PaymentItem.select().where(PaymentItem.paid_bill.is_null(False)).count() == 1

    # Card out: nothing personal stays on the screen.
    stack.remove()
    expect(page.locator("body[data-personal='0']")).to_be_attached(timeout=20_000)
    assert reference not in settled_content(page)  # the wipe navigates: read it once settled


def test_an_unpaid_qr_expires_on_screen(stack: KioskStack, browser: Browser):
    page = open_page(browser, stack.url + "th/", "th", touch=True)
    to_bills(page, stack)
    choose_only(page, "electricity")
    tap(page, page.locator("[data-action=pay]"))
    expect(page.locator("[data-qr] svg")).to_be_visible(timeout=20_000)
    reference = page.locator("[data-reference]").inner_text()
    page.screenshot(path=SCREENS / "kiosk-pay-qr-th.png")
    # Time passes on the server: the QR's end and the grace for a callback in flight.
    from datetime import timedelta

    with database.connection_context():
        payment = Payment.get_by_id(reference)
        payment.expires_at = payment.expires_at - timedelta(hours=1)
        payment.save()
    expect(page.locator("[data-notice=expired]")).to_be_visible(timeout=30_000)
    page.screenshot(path=SCREENS / "kiosk-pay-expired-th.png")


def test_offline_the_kiosk_says_so_and_prints_the_bills_qr_for_later(
    stack: KioskStack, browser: Browser
):
    page = open_page(browser, stack.url + "vi/", "vi", touch=True)
    to_bills(page, stack)
    choose_only(page, "management")
    stack.stop_broker()
    tap(page, page.locator("[data-action=pay]"))
    expect(page.locator("[data-notice=offline]")).to_be_visible(timeout=20_000)
    page.screenshot(path=SCREENS / "kiosk-bills-offline-vi.png")
    tap(page, page.locator("[data-action=print-later]"))
    expect(page.locator("[data-printed]")).to_be_visible(timeout=20_000)
    job = wait_for(lambda: [j for j in stack.printer.jobs() if j.complete], "the QR receipt")[0]
    data = job.data()
    start = data.index(b"000201")
    payload = data[start : data.index(b"6304", start) + 8].decode()
    fields = check_payload(payload)
    assert fields["54"] == "1850.00" and fields["01"] == "11"


def test_buy_a_household_plan_by_qr(
    stack: KioskStack, bank: PaySim, browser: Browser, tmp_path: Path
):
    page = open_page(browser, stack.url + "en/", "en", touch=True)
    stack.insert(0)
    expect(page.locator("[data-summary]")).to_be_visible(timeout=30_000)
    tap(page, page.locator("[data-service='bills.insurance']"))
    expect(page.locator("[data-quotes]")).to_be_visible(timeout=20_000)
    page.screenshot(path=SCREENS / "kiosk-insurance-en.png")
    tap(page, page.locator("[data-plan=basic] [data-action=buy]"))
    expect(page.locator("[data-qr] svg")).to_be_visible(timeout=20_000)
    shot = tmp_path / "plan.png"
    page.screenshot(path=shot)
    payload = zbar(shot)
    check_payload(payload)
    answer = bank.post("/scan", {"payload": payload})
    assert answer["answer"] == {"result": "paid"}
    expect(page.locator("[data-paid]")).to_be_visible(timeout=30_000)
    expect(page.locator("[data-notice=paid]")).to_contain_text("HH-")
    wait_for(lambda: [j for j in stack.printer.jobs() if j.complete], "the plan's receipt")
