"""The public tracking page in Debian's Chromium, for a petition filed at a station.

The petition takes the real path: the station's outbox → Mosquitto → the ingest worker →
the server's database. The citizen follows the receipt's QR link, types the phone, reads the
code from the SMS sink (as a phone would show it) and sees the status history; an officer's
status change then shows up on the page and in the sink.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, Page, expect

from sync_server.db import database
from sync_server.petitions import service as petitions
from sync_server.petitions.models import Petition
from sync_server.sms import SinkGateway
from sync_server.sms.models import SentSms
from sync_server.sms.outbox import Outbox
from tests.helpers import wait_until
from tests.web_browser import headless_chromium, serving

PHONE = "0812345678"


@pytest.fixture
def live_url(server_app) -> Iterator[str]:
    with serving(server_app) as url:
        yield url


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with headless_chromium() as browser:
        yield browser


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 420, "height": 900}, locale="th-TH")
    yield context.new_page()
    context.close()


def sms_code() -> str:
    def latest() -> str | None:
        row = SentSms.select().order_by(SentSms.id.desc()).first()
        return row.text if row else None

    text = wait_until(latest, "the code in the SMS sink")
    return re.search(r"\b(\d{6})\b", text).group(1)


def test_a_citizen_tracks_a_petition_filed_at_a_station(
    server_app, ingest, station_factory, live_url, page
):
    station = station_factory()
    station.config.tracking_url = f"{live_url}/track?number={{number}}"
    number = station.file_petition("general_petition", PHONE, {"subject": "ลิฟต์ชั้น 5 เสีย"})
    wait_until(lambda: Petition.get_or_none(Petition.number == number), "the petition to arrive")
    receipt_link = station.petition_receipt(
        number, "general_petition"
    ).tracking_url  # what the QR code holds

    page.goto(receipt_link)
    expect(page.locator("#number")).to_have_value(number)
    page.fill("#phone", "081-234-5678")
    page.get_by_role("button", name=re.compile("ส่งรหัส")).click()
    expect(page.locator("h1")).to_contain_text("ใส่รหัส OTP")  # the browser's language: Thai
    expect(page.locator(".lead")).to_contain_text("081-XXX-5678")

    page.fill("#code", sms_code())
    page.get_by_role("button", name=re.compile("ยืนยัน")).click()
    expect(page.locator(".current")).to_contain_text("ได้รับคำร้องแล้ว")
    expect(page.locator(".history .step")).to_have_count(1)
    assert "ลิฟต์" not in page.content() and PHONE not in page.content()

    petitions.change_status(number, "in_review", actor="officer-malee", comment="ส่งช่างแล้ว")
    Outbox(SinkGateway(), {"TRACKING_URL": station.config.tracking_url}).deliver_due()
    status_sms = SentSms.select().order_by(SentSms.id.desc()).get()
    assert status_sms.to == PHONE and number in status_sms.text and receipt_link in status_sms.text
    page.reload()
    expect(page.locator(".current")).to_contain_text("อยู่ระหว่างพิจารณา")
    expect(page.locator(".history .step")).to_have_count(2)
    assert "ส่งช่างแล้ว" not in page.content()  # the officer's comment stays internal

    page.get_by_role("link", name="Tiếng Việt").click()  # the switch keeps the page
    expect(page.locator("html")).to_have_attribute("lang", "vi")
    expect(page.locator(".current")).to_contain_text("Đang xem xét")
    page.reload()  # remembered
    expect(page.locator("h1")).to_contain_text("Tình trạng đơn")
    page.get_by_role("link", name="English").click()
    expect(page.locator(".current")).to_contain_text("In review")


def test_wrong_codes_in_the_browser_count_down_and_burn(
    server_app, ingest, station_factory, live_url, page
):
    station = station_factory()
    number = station.file_petition("general_petition", PHONE, {})
    wait_until(lambda: Petition.get_or_none(Petition.number == number), "the petition to arrive")
    page.goto(f"{live_url}/track?number={number}")
    page.fill("#phone", PHONE)
    page.get_by_role("button", name=re.compile("ส่งรหัส")).click()
    wrong = f"{(int(sms_code()) + 1) % 1_000_000:06d}"
    for left in ("ใส่ได้อีก 2 ครั้ง", "ใส่ได้อีก 1 ครั้ง"):
        page.fill("#code", wrong)
        page.get_by_role("button", name=re.compile("ยืนยัน")).click()
        expect(page.locator(".alert")).to_contain_text(left)
    page.fill("#code", wrong)
    page.get_by_role("button", name=re.compile("ยืนยัน")).click()
    expect(page.locator(".alert")).to_contain_text("ใส่รหัสผิดเกินจำนวนครั้งที่กำหนด")
    expect(page.locator("#number")).to_have_value(number)


def test_the_fourth_request_for_one_number_is_refused(server_app, live_url, page):
    database.connect(reuse_if_open=True)
    number = "P-ST-A-0000001-" + "X"  # never filed: the limit answers before any lookup
    for _ in range(3):
        page.goto(f"{live_url}/track?number={number}&lang=en")
        page.fill("#phone", PHONE)
        page.get_by_role("button", name="Send code").click()
        expect(page.locator("h1")).to_contain_text("Enter your code")
    page.goto(f"{live_url}/track?number={number}")
    page.fill("#phone", PHONE)
    page.get_by_role("button", name="Send code").click()
    expect(page.locator("h1")).to_contain_text("Please try again later")
    expect(page.locator(".alert")).to_contain_text("15 minutes")
    assert SentSms.select().count() == 0
