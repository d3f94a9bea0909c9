"""Operators in Debian's Chromium: log in, the back office, one machine per account, lockout.

The petition takes the real path (station outbox → Mosquitto → ingest worker → database);
the officer works it in the browser and the SMS sink page, seen by operations, shows the text.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import timedelta

import pytest
from playwright.sync_api import Browser, Page, expect

from sync_server.db import database, utc_now
from sync_server.operators import sessions
from sync_server.operators.models import Operator
from sync_server.petitions.models import Petition
from sync_server.sms.models import SentSms
from tests.helpers import wait_until
from tests.operator_fixtures import create_test_operator
from tests.petition_fixtures import file_petitions
from tests.web_browser import headless_chromium, serving
from tests.web_login import login


@pytest.fixture
def live_url(server_app) -> Iterator[str]:
    with serving(server_app) as url:
        yield url


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with headless_chromium() as browser:
        yield browser


def new_page(browser: Browser, locale: str = "th-TH") -> Page:
    """A page in its own browser context; the staff pages follow the browser's language."""
    context = browser.new_context(viewport={"width": 1200, "height": 900}, locale=locale)
    return context.new_page()


def test_an_officer_works_a_petition_and_operations_sees_the_sms(
    server_app, ingest, station_factory, live_url, browser
):
    station = station_factory()
    number = station.file_petition("general_petition", "0812345678", {"subject": "ไฟทางเดินดับ"})
    wait_until(lambda: Petition.get_or_none(Petition.number == number), "the petition to arrive")
    officer, officer_password = create_test_operator("officer")
    page = new_page(browser, locale="en-GB")
    login(page, live_url, officer, officer_password)
    expect(page).to_have_url(re.compile(r"/backoffice/$"))
    page.get_by_role("link", name=number).click()
    expect(page.locator("h1")).to_have_text(number)
    expect(page.locator(".bo-form-value")).to_contain_text("ไฟทางเดินดับ")
    page.select_option("#status", "in_review")
    page.fill("#comment", "ส่งช่างไฟฟ้าแล้ว")
    page.get_by_role("button", name=re.compile("Save and send SMS")).click()
    expect(page.locator(".flash.ok")).to_contain_text("SMS sent")
    expect(page.locator(".bo-status").first).to_contain_text("In review")

    operations, operations_password = create_test_operator("operations")
    ops_page = new_page(browser)
    login(ops_page, live_url, operations, operations_password)
    ops_page.goto(f"{live_url}/sms/sent")
    expect(ops_page.locator(".sms-table")).to_contain_text(number)
    expect(ops_page.locator(".sms-table")).to_contain_text("/track?number=")
    assert "0812345678" not in ops_page.content()
    assert SentSms.select().where(SentSms.text.contains(number)).count() == 1

    page.click("#logout")
    expect(page).to_have_url(re.compile(r"/login"))
    page.context.close()
    ops_page.context.close()


def test_one_machine_per_account_and_an_abandoned_session_locks_it(server_app, live_url, browser):
    officer, password = create_test_operator("officer")
    first = new_page(browser)
    login(first, live_url, officer, password)
    expect(first.locator("#me")).to_be_visible()

    second = new_page(browser)
    login(second, live_url, officer, password)
    expect(second.locator(".flash.error")).to_contain_text("เข้าสู่ระบบอยู่ที่เครื่องอื่น")
    second.context.close()

    first.context.close()  # the browser closes without logging out
    with server_app.app_context(), database.connection_context():
        locked = sessions.lock_abandoned(now=utc_now() + timedelta(minutes=5))
    assert locked == [officer]

    again = new_page(browser)
    login(again, live_url, officer, password)
    expect(again.locator(".flash.error")).to_contain_text("บัญชีถูกล็อก")

    admin, admin_password = create_test_operator("administrator")
    admin_page = new_page(browser)
    login(admin_page, live_url, admin, admin_password)
    admin_page.goto(f"{live_url}/admin/operators")
    row = admin_page.locator(f'tr[data-username="{officer}"]')
    expect(row).to_contain_text("session ended without logout")
    row.locator("button.unlock").click()
    expect(admin_page.locator(".flash.ok")).to_contain_text(f"ปลดล็อก {officer} แล้ว")
    with database.connection_context():
        assert not Operator.get(Operator.username == officer).locked

    login(again, live_url, officer, password)
    expect(again.locator("#me")).to_be_visible()
    admin_page.goto(f"{live_url}/admin/audit?actor={admin}")
    expect(admin_page.locator("#audit")).to_contain_text("operator.unlock")
    again.context.close()
    admin_page.context.close()


def test_the_petition_page_speaks_the_officers_language_and_defaults_to_me(
    server_app, live_url, browser
):
    with database.connection_context():
        (number,) = file_petitions(
            "st-a",
            1,
            form={"subject": "ไฟทางเดินดับ", "phone_check": "card_offline", "floor_no": "3"},
        )
    create_test_operator("administrator")  # sorted first: it used to be the default assignee
    officer, password = create_test_operator("officer")
    page = new_page(browser, locale="th-TH")
    login(page, live_url, officer, password)
    page.goto(f"{live_url}/backoffice/petitions/{number}")
    details = page.locator("dl.bo-details").nth(1)
    expect(details).to_contain_text("เรื่อง")
    expect(details).to_contain_text("ยังไม่ยืนยัน: อ่านบัตรประชาชนขณะออฟไลน์")
    expect(details).to_contain_text("Floor no")  # an unknown key reads as words
    expect(details).not_to_contain_text("phone_check")
    expect(page.locator("#assignee")).to_have_value("me")
    expect(page.locator("#comment-hint")).to_be_visible()
    expect(page.locator("#comment-hint")).to_contain_text("จำเป็นต้องกรอก")

    # Save without a comment: the page answers in Thai instead of doing nothing.
    page.select_option("#status", "in_review")
    page.get_by_role("button", name="บันทึกและส่ง SMS").click()
    expect(page.locator(".flash.error")).to_contain_text("กรุณาเขียนหมายเหตุภายในก่อน")
    page.context.close()
