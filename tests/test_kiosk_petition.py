"""Flow 4 (petitions) and flow 5 (tracking) in Chromium, online and with the broker stopped.

The code comes from the server's SMS sink as a phone would show it; the receipt comes out of
the virtual network printer as ESC/POS bytes, rendered to an image and checked.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect

from devtools.cardstack import LocalPcscd
from hardware.printer.render import render
from sync_server.petitions.models import Petition
from sync_server.sms.models import SentSms
from tests.kiosk_browser import KioskStack, chromium, open_page, wait_for

PHONE = "0812345678"


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with chromium() as (_, browser):
        yield browser


@pytest.fixture
def stack(tmp_path: Path, pcscd: LocalPcscd) -> Iterator[KioskStack]:
    kiosk = KioskStack(tmp_path, pcscd)
    try:
        yield kiosk.start()
    finally:
        kiosk.stop()


def sms_code(phone: str, seen: int = 0) -> str:
    """The code in the newest SMS to ``phone`` (after ``seen`` earlier ones)."""
    rows = wait_for(
        lambda: list(SentSms.select().where(SentSms.to == phone).order_by(SentSms.id))[seen:],
        "the SMS with the code",
    )
    assert rows[-1].sender == "OSS-LOCAL"
    return re.search(r"\b(\d{6})\b", rows[-1].text).group(1)


def printed_receipt(stack: KioskStack, count: int = 1) -> bytes:
    jobs = wait_for(
        lambda: [job for job in stack.printer.jobs() if job.complete][count - 1 :],
        "the receipt to print",
    )
    return jobs[0].data()


def check_receipt(data: bytes, number: str, tmp_path: Path) -> None:
    assert number.encode() in data  # printed under the QR code
    assert f"number={number}".encode() in data  # the tracking link inside the QR code
    drawing = render(data)
    assert drawing.skipped == []
    assert drawing.image.height > 400
    drawing.image.save(tmp_path / f"{number}.png")


def file_online(page: Page, service: str = "general_petition") -> str:
    page.click(f"[data-choice={service}]")
    page.fill("input[name=phone]", PHONE)
    page.click("button[type=submit]")
    expect(page.locator("input[name=code]")).to_be_visible()
    page.fill("input[name=code]", sms_code(PHONE))
    page.click("button[type=submit]")
    page.fill("input[name=subject]", "ขอซ่อมไฟทางเดินชั้น 3")
    page.click("button[type=submit]")
    return page.locator("[data-number]").inner_text()


def test_petition_online_in_english_with_code_receipt_and_tracking_in_vietnamese(
    stack: KioskStack, browser: Browser, tmp_path: Path
):
    page = open_page(browser, stack.url + "en/", "en")
    page.click("[data-service=petition]")
    expect(page.locator("h1")).to_have_text("File a petition")
    number = file_online(page)
    expect(page.locator("h1")).to_have_text("Your petition is filed")
    assert re.fullmatch(r"P-ST-A-\d{7}-[0-9A-Z*]", number)
    check_receipt(printed_receipt(stack), number, tmp_path)
    petition = wait_for(lambda: Petition.get_or_none(Petition.number == number), "the petition")
    assert petition.phone == PHONE and json.loads(petition.form)["phone_check"] == "otp"

    # Track it by number + the same phone + a code, in Vietnamese, and print the status.
    page.goto(stack.url + "vi/track/")
    page.fill("input[name=number]", number.lower())
    page.fill("input[name=phone]", "081-234-5678")
    page.click("button[type=submit]")
    page.fill("input[name=code]", sms_code(PHONE, seen=1))
    page.click("button[type=submit]")
    expect(page.locator(f"[data-petition='{number}'] [data-status]")).to_have_text("Đã tiếp nhận")
    page.click("[data-print-status]")
    expect(page.locator("[data-printed]")).to_be_visible()
    status = printed_receipt(stack, 2)
    assert number.encode() in status


def test_tracking_with_a_wrong_phone_never_shows_the_petition(stack, browser):
    number = stack.station.file_petition("general_petition", PHONE, {"subject": "x"})
    wait_for(lambda: Petition.get_or_none(Petition.number == number), "the petition")
    page = open_page(browser, stack.url + "en/track/", "en")
    page.fill("input[name=number]", number)
    page.fill("input[name=phone]", "0899999999")
    page.click("button[type=submit]")
    # The same screen as for the right phone (no enumeration), but no code ever arrives.
    expect(page.locator("input[name=code]")).to_be_visible()
    assert SentSms.select().where(SentSms.to == "0899999999").count() == 0
    page.fill("input[name=code]", "123456")
    page.click("button[type=submit]")
    expect(page.locator("[data-error=wrong_code]")).to_be_visible()
    assert number not in page.inner_text("#screen")


def test_offline_with_the_card_the_petition_is_final_queued_and_printed(stack, browser, tmp_path):
    stack.stop_broker()
    page = open_page(browser, stack.url)
    stack.insert(0)
    expect(page.locator("dl[data-summary]")).to_be_visible(timeout=30_000)
    page.click("[data-service='petition.start']")
    expect(page.locator("[data-offline-policy]")).to_contain_text("บัตรประชาชนแทนรหัส OTP")
    page.click("[data-choice=population_correction]")
    page.fill("input[name=phone]", PHONE)
    page.click("button[type=submit]")
    page.fill("input[name=item]", "ชื่อสกุลสะกดผิด")
    page.fill("input[name=correct_value]", "ใจดี")
    page.click("button[type=submit]")
    number = page.locator("[data-number]").inner_text()
    expect(page.locator("#screen")).to_contain_text("เครื่องออฟไลน์อยู่")
    check_receipt(printed_receipt(stack), number, tmp_path)
    backlog = stack.station.store.outbox.backlog().pending
    assert backlog == 2  # the offline lookup's audit and the petition
    # Back online, the petition reaches the server exactly as filed.
    stack.broker.start()
    petition = wait_for(lambda: Petition.get_or_none(Petition.number == number), "the petition")
    assert petition.citizen_id == stack.resident(0).citizen_id
    assert json.loads(petition.form)["phone_check"] == "card_offline"


def test_offline_without_a_card_nothing_is_offered_that_cannot_work(stack, browser):
    stack.stop_broker()
    page = open_page(browser, stack.url + "en/petition/", "en")
    expect(page.locator("[data-offline-policy]")).to_contain_text("insert your ID card")
    assert page.locator("[data-choice]:not([disabled])").count() == 0
    page.goto(stack.url + "en/track/")
    expect(page.locator("[data-offline-policy]")).to_be_visible()
    expect(page.locator("#screen button[type=submit]")).to_be_disabled()


def test_card_pulled_mid_flow_clears_the_screen_and_saves_nothing(stack, browser):
    page = open_page(browser, stack.url)
    stack.insert(0)
    expect(page.locator("dl[data-summary]")).to_be_visible(timeout=30_000)
    page.click("[data-service='petition.start']")
    page.click("[data-choice=general_petition]")
    page.fill("input[name=phone]", PHONE)
    page.click("button[type=submit]")
    page.fill("input[name=code]", sms_code(PHONE))
    page.click("button[type=submit]")
    page.fill("input[name=subject]", "ครึ่งทาง")
    token = page.locator("input[name=visit]").first.get_attribute("value")
    before = stack.station.store.outbox.backlog().pending
    stack.remove()
    expect(page.locator("input[name=subject]")).to_have_count(0, timeout=5_000)
    expect(page.locator("h1")).to_contain_text("กรุณาเสียบบัตรประจำตัวประชาชน")
    # The half-filled form, posted anyway, is refused: nothing reaches the outbox or printer.
    response = page.request.post(
        stack.url + "th/petition/form",
        form={"visit": token, "subject": "ครึ่งทาง"},
        max_redirects=0,
    )
    assert response.status == 302 and response.headers["location"].endswith("/th/")
    assert stack.station.store.outbox.backlog().pending == before
    assert stack.station.receipts.counts()["queued"] == 0
    assert stack.printer.jobs() == []
