"""Flows 2 and 3 in Chromium with the real card: the e-account password reset (seed 000) and
the level-1 e-ID account (seed 001), for oneself and for a child under 14 (chosen from the
population register's list of the card holder's wards)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect

from devtools.cardstack import LocalPcscd
from sync_server.kiosk_services.models import IdentityCredential
from sync_server.records.accounts import check_password
from sync_server.records.models import (
    Guardianship,
    IdentityAccount,
    InsuranceAccount,
    PopulationRecord,
)
from sync_server.records.passwords import verify_password
from sync_server.sms.models import SentSms
from tests.kiosk_browser import KioskStack, chromium, open_page, wait_for


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with chromium() as (_, browser):
        yield browser


@pytest.fixture
def stack(tmp_path: Path, pcscd: LocalPcscd) -> Iterator[KioskStack]:
    kiosk = KioskStack(tmp_path, pcscd)
    try:
        yield kiosk.start(replica=False)
    finally:
        kiosk.stop()


def sms_code(phone: str, seen: int = 0) -> str:
    rows = wait_for(
        lambda: list(SentSms.select().where(SentSms.to == phone).order_by(SentSms.id))[seen:],
        "the SMS with the code",
    )
    return re.search(r"\b(\d{6})\b", rows[-1].text).group(1)


def with_card(stack: KioskStack, browser: Browser, index: int, lang: str = "th") -> Page:
    page = open_page(browser, stack.url + f"{lang}/", lang)
    stack.insert(index)
    expect(page.locator("dl[data-summary]")).to_be_visible(timeout=30_000)
    return page


def test_password_reset_shows_a_temporary_password_on_screen_only(stack, browser):
    citizen_id = stack.resident(0).citizen_id
    account = InsuranceAccount.get(InsuranceAccount.citizen == citizen_id)
    page = with_card(stack, browser, 0)
    page.click("[data-service='password.start']")
    # A wrong phone: seed 000's message, and no code is sent.
    page.fill("input[name=insurance_number]", account.insurance_number)
    page.fill("input[name=phone]", "0800000000")
    page.click("#screen button[type=submit]")
    expect(page.locator("[data-error=no_match]")).to_contain_text(
        "หมายเลขโทรศัพท์และรหัสประกันสังคมไม่ตรงกันหรือไม่ได้ลงทะเบียนไว้กับสำนักงานประกันสังคม"
    )
    assert SentSms.select().count() == 0
    page.fill("input[name=insurance_number]", account.insurance_number)
    page.fill("input[name=phone]", account.phone)
    page.click("#screen button[type=submit]")
    page.fill("input[name=code]", sms_code(account.phone))
    page.click("#screen button[type=submit]")
    password = page.locator("[data-temporary-password]").inner_text()
    assert check_password(account.insurance_number, password)
    assert InsuranceAccount.get_by_id(account.insurance_number).must_change_password
    # Never printed: this screen has no print control and the printer saw nothing.
    assert page.locator("#screen [data-print-status], #screen [data-print]").count() == 0
    assert stack.printer.jobs() == []
    # Pulling the card takes it off the screen and out of the kiosk's memory.
    stack.remove()
    expect(page.locator("[data-temporary-password]")).to_have_count(0, timeout=5_000)
    wait_for(lambda: stack.kiosk.state.visit is None, "the visit to end")


def test_eid_level1_for_oneself_in_english(stack, browser):
    resident = stack.resident(0)
    page = with_card(stack, browser, 0, "en")
    page.click("[data-service='eid.start']")
    expect(page.locator("[data-card-data]")).to_contain_text(resident.citizen_id)
    expect(page.locator("[data-level2]")).to_contain_text("police station")
    page.click("[data-for=me]")
    page.fill("input[name=phone]", "0861234567")
    page.fill("input[name=email]", "somchai@example.com")
    page.click("#screen button[type=submit]")
    page.fill("input[name=code]", sms_code("0861234567"))
    page.fill("input[name=password]", "short1")
    expect(page.locator("[data-meter]")).to_have_attribute("data-score", "0")
    page.fill("input[name=password]", "Lobby-Station-42")
    expect(page.locator("[data-meter]")).to_have_attribute("data-score", "4")
    page.fill("input[name=password_again]", "Lobby-Station-42")
    page.click("#screen button[type=submit]")
    expect(page.locator("[data-eid-done]")).to_have_text("Your level-1 digital ID account is ready")
    account = IdentityAccount.get_by_id(resident.citizen_id)
    assert (account.level, account.phone, account.email) == (1, "0861234567", "somchai@example.com")
    credential = IdentityCredential.get_by_id(resident.citizen_id)
    assert verify_password(credential.password_hash, "Lobby-Station-42")


def test_eid_for_a_child_under_14_goes_through_the_guardians_card(stack, browser):
    guardian = stack.resident(3)
    # A child the population register links to the card holder (their synthetic parent),
    # without an account yet: the guardian chooses them from the register's list.
    registered = IdentityAccount.select(IdentityAccount.citizen)
    child = (
        PopulationRecord.select()
        .join(Guardianship, on=Guardianship.child == PopulationRecord.citizen_id)
        .where(
            (Guardianship.guardian == guardian.citizen_id)
            & (PopulationRecord.birth_year > 2012)
            & PopulationRecord.citizen_id.not_in(registered)
        )
        .first()
    )
    assert child is not None, "the synthetic card holder 3 has a child without an account"
    page = with_card(stack, browser, 3, "vi")
    page.click("[data-service='eid.start']")
    page.click("[data-for=ward]")
    ward = page.locator(f"button[name=ward][value='{child.citizen_id}']")
    expect(ward).to_have_attribute("data-ward", "minor")
    expect(ward).to_contain_text("Dưới 14 tuổi")
    ward.click()
    page.fill("input[name=phone]", "0897654321")
    page.click("#screen button[type=submit]")
    page.fill("input[name=code]", sms_code("0897654321"))
    page.fill("input[name=password]", "Family-Kiosk-7")
    page.fill("input[name=password_again]", "Family-Kiosk-7")
    page.click("#screen button[type=submit]")
    expect(page.locator("[data-eid-done]")).to_be_visible()
    account = IdentityAccount.get_by_id(child.citizen_id)
    assert account.guardian_citizen_id == guardian.citizen_id


def test_offline_the_account_services_say_they_need_the_network(stack, browser):
    page = with_card(stack, browser, 0, "en")
    stack.stop_broker()
    page.click("[data-service='password.start']")
    expect(page.locator("[data-offline-policy]")).to_be_visible()
    expect(page.locator("#screen button[type=submit]")).to_be_disabled()
