"""Counter mode (seed 003) in Chromium: an officer logs in at the kiosk through the server,
serves a card holder, logs out with one tap; one machine per account; a closed page locks
the account until an administrator unlocks it; no officer login offline."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect

from device.config import KioskConfig
from devtools.cardstack import LocalPcscd
from sync_server.db import database, utc_now
from sync_server.operators import sessions
from sync_server.operators.models import Operator, OperatorSession
from tests.helpers import screens_dir
from tests.kiosk_browser import KioskStack, chromium, open_page, settled_content
from tests.operator_fixtures import create_test_operator


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with chromium() as (_, browser):
        yield browser


@pytest.fixture
def stack(tmp_path: Path, pcscd: LocalPcscd) -> Iterator[KioskStack]:
    kiosk = KioskStack(tmp_path, pcscd, kiosk_config=KioskConfig(port=0, counter_mode=True))
    try:
        yield kiosk.start(replica=False)
    finally:
        kiosk.stop()


def log_in(page: Page, username: str, password: str) -> None:
    page.fill("#counter-login input[name=username]", username)
    page.fill("#counter-login input[name=password]", password)
    page.click("#counter-login button[type=submit]")


def test_officer_logs_in_serves_a_card_holder_and_logs_out_with_one_tap(stack, browser):
    username, password = create_test_operator("officer")
    page = open_page(browser, stack.url + "th/")
    expect(page.locator("#counter-login")).to_be_visible()  # nothing else before the login
    log_in(page, username, password)
    expect(page.locator("[data-officer]")).to_contain_text("สมชาย ใจดี")

    resident = stack.resident(0)
    stack.insert(0)
    expect(page.locator("dl[data-summary]")).to_be_visible(timeout=30_000)
    assert resident.first_th in page.content()

    page.click("[data-action=officer-logout]")
    expect(page.locator("#counter-login")).to_be_visible()
    assert resident.first_th not in settled_content(page)
    with database.connection_context():
        ended = OperatorSession.get(
            OperatorSession.machine == "station:" + stack.station.config.station_id
        )
        assert ended.end_reason == "logout"


def test_the_same_officer_logged_in_elsewhere_is_refused(stack, browser):
    username, password = create_test_operator("officer")
    with database.connection_context():
        sessions.open_session(username, password, "station:st-elsewhere")
    page = open_page(browser, stack.url + "en/")
    log_in(page, username, password)
    expect(page.locator("[data-error=already_logged_in]")).to_contain_text("another machine")


def test_a_closed_page_locks_the_account_until_an_administrator_unlocks_it(stack, browser):
    username, password = create_test_operator("officer")
    page = open_page(browser, stack.url + "th/")
    log_in(page, username, password)
    expect(page.locator("[data-officer]")).to_be_visible()
    page.context.close()  # the browser closes without logging out: the touches stop

    with database.connection_context():
        assert sessions.lock_abandoned(now=utc_now() + timedelta(minutes=5)) == [username]
    # Five minutes later for the kiosk too: its last touch is old, so it asks the server.
    counter = stack.kiosk.state.counter
    counter._clock = lambda: time.monotonic() + 300
    again = open_page(browser, stack.url + "en/")
    expect(again.locator("[data-error=session_ended]")).to_be_visible()
    log_in(again, username, password)
    expect(again.locator("[data-error=account_locked]")).to_contain_text("administrator")

    with database.connection_context():
        sessions.unlock(username, by="admin1")
        assert not Operator.get(Operator.username == username).locked
    log_in(again, username, password)
    expect(again.locator("[data-officer]")).to_be_visible()


def test_offline_there_is_no_officer_login(stack, browser):
    stack.stop_broker()
    page = open_page(browser, stack.url + "vi/")
    expect(page.locator("[data-offline-policy]")).to_contain_text("máy chủ")
    expect(page.locator("#counter-login button[type=submit]")).to_be_disabled()


def test_the_card_in_screen_shows_age_and_sex_and_the_officer_reads_the_system_info(stack, browser):
    """Seed 003: the card's id, name, age, sex, photo and "Card in"; and the system
    information screen with the officer, the station and the seven conditions of use."""
    from datetime import date

    from device.kiosk.views.insured import age_of
    from tests import screen_checks

    screens = screens_dir()
    username, password = create_test_operator("officer")
    page = open_page(browser, stack.url + "th/")
    log_in(page, username, password)
    expect(page.locator("[data-officer]")).to_be_visible()
    resident = stack.resident(0)
    stack.insert(0)
    expect(page.locator("dl[data-summary]")).to_be_visible(timeout=30_000)
    card = stack.kiosk.state.visit.card
    years = age_of(card, date.today())
    assert 18 <= years <= 90
    expect(page.locator("[data-age]")).to_have_text(f"อายุ {years} ปี")
    expect(page.locator("[data-sex]")).to_have_attribute("data-sex", resident.sex)
    expect(page.locator("[data-sex]")).to_have_text({"male": "ชาย", "female": "หญิง"}[resident.sex])
    expect(page.locator("[data-citizen-id]")).to_contain_text(resident.citizen_id[:1])
    expect(page.locator("img.photo")).to_be_visible()
    expect(page.locator(".card-in")).to_be_visible()
    page.screenshot(path=str(screens / "counter-card-in-age-sex-th.png"))

    page.click("[data-action=counter-about]")
    about = page.locator("[data-about-officer]")
    expect(about).to_contain_text("สมชาย ใจดี")
    expect(about).to_contain_text("เจ้าหน้าที่")
    expect(about).to_contain_text(stack.station.config.station_id)
    expect(page.locator("[data-conditions] li")).to_have_count(7)
    expect(page.locator("[data-conditions]")).to_contain_text("ล็อกอินได้เพียงเครื่องเดียว")
    assert screen_checks.target_findings(page) == []
    page.screenshot(path=str(screens / "counter-system-info-th.png"), full_page=True)
    for lang, title in (("vi", "Thông tin hệ thống"), ("en", "System information")):
        page.click(f"header [data-lang={lang}]")
        expect(page.locator("#screen h1")).to_have_text(title)
