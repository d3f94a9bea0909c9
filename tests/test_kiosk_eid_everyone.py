"""Seed 001's e-ID for everyone, at the kiosk in Chromium with the real card through pcscd:
a guardian registers the adult in their care (no legal capacity) by choosing them from the
register's list, a foreigner registers with passport number and nationality, and level 2 is
explained as an in-person step."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect

from devtools.cardstack import LocalPcscd
from devtools.eid_people import FOREIGN_PASSPORT, EidPeople, guardian_index, seed_eid_people
from sync_server.records.models import IdentityAccount
from sync_server.sms.models import SentSms
from tests.helpers import screens_dir
from tests.kiosk_browser import AS_OF, POPULATION, KioskStack, chromium, open_page, wait_for

SCREENS = screens_dir()


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


@pytest.fixture
def people(stack: KioskStack) -> EidPeople:
    seeded = seed_eid_people(POPULATION, as_of=AS_OF, card_dir=stack.root / "cards")
    assert seeded.foreigner_card is not None
    stack.card_files.append(seeded.foreigner_card)
    return seeded


def sms_code(phone: str) -> str:
    rows = wait_for(
        lambda: list(SentSms.select().where(SentSms.to == phone).order_by(SentSms.id)),
        "the SMS with the code",
    )
    return re.search(r"\b(\d{6})\b", rows[-1].text).group(1)


def with_card(stack: KioskStack, browser: Browser, index: int, lang: str) -> Page:
    page = open_page(browser, stack.url + f"{lang}/", lang)
    stack.insert(index)
    expect(page.locator("[data-summary], [data-notice=no-record]")).to_be_visible(timeout=30_000)
    page.click("[data-service='eid.start']")
    expect(page.locator("[data-card-data]")).to_be_visible()
    return page


def finish_registration(page: Page, phone: str, password: str) -> None:
    page.fill("input[name=phone]", phone)
    page.click("#screen button[type=submit]")
    page.fill("input[name=code]", sms_code(phone))
    page.fill("input[name=password]", password)
    page.fill("input[name=password_again]", password)
    page.click("#screen button[type=submit]")


def test_a_guardian_registers_the_adult_in_their_care(stack, browser, people):
    index = guardian_index(POPULATION)
    page = with_card(stack, browser, index, "th")
    page.click("[data-for=ward]")
    ward = page.locator(f"button[name=ward][value='{people.ward.citizen_id}']")
    expect(ward).to_contain_text("วิชัย")
    expect(ward).to_contain_text("ผู้ไร้ความสามารถ")
    expect(ward).to_have_attribute("data-ward", "no_legal_capacity")
    page.screenshot(path=str(SCREENS / "eid-wards-th.png"))
    ward.click()
    finish_registration(page, "0891230001", "Ward-Kiosk-2026")
    expect(page.locator("[data-eid-done]")).to_be_visible()
    account = IdentityAccount.get_by_id(people.ward.citizen_id)
    assert (account.level, account.guardian_citizen_id) == (1, people.guardian_citizen_id)
    # The guardian's next visit no longer offers them.
    page.goto(stack.url + "th/eid/wards")
    expect(page.locator("#screen")).not_to_contain_text("วิชัย")


def test_a_foreigner_registers_with_passport_and_nationality(stack, browser, people):
    foreign_card = len(stack.card_files) - 1
    page = with_card(stack, browser, foreign_card, "vi")
    expect(page.locator("[data-card-data]")).to_contain_text(people.foreigner.citizen_id)
    page.click("[data-for=foreigner]")
    expect(page.locator("h1")).to_have_text("Đăng ký cho người nước ngoài")
    # Nationalities are named in the screen's language (CLDR through Babel).
    expect(page.locator("select[name=nationality] option[value=VN]")).to_have_text("Việt Nam")
    page.fill("input[name=passport_number]", "c 704-0512")
    page.select_option("select[name=nationality]", "VN")
    page.locator("#osk [data-action=done]").click()
    page.screenshot(path=str(SCREENS / "eid-passport-vi.png"))
    page.click("#screen button[type=submit]")
    finish_registration(page, "0891230002", "Passport-Kiosk-9")
    expect(page.locator("[data-eid-done]")).to_be_visible()
    assert IdentityAccount.get_by_id(people.foreigner.citizen_id).level == 1
    assert FOREIGN_PASSPORT == "C7040512"  # typed with a space and a dash, matched upper-case


def test_a_wrong_passport_is_refused_and_nothing_is_created(stack, browser, people):
    page = with_card(stack, browser, len(stack.card_files) - 1, "en")
    page.click("[data-for=foreigner]")
    page.fill("input[name=passport_number]", "??")
    page.select_option("select[name=nationality]", "VN")
    page.click("#screen button[type=submit]")
    expect(page.locator("[data-error=bad_passport]")).to_be_visible()
    page.fill("input[name=passport_number]", "C7040599")
    page.select_option("select[name=nationality]", "VN")
    page.click("#screen button[type=submit]")
    finish_registration(page, "0891230003", "Passport-Kiosk-9")
    expect(page.locator("[data-error=data_mismatch]")).to_be_visible()
    assert (
        IdentityAccount.get_or_none(IdentityAccount.citizen == people.foreigner.citizen_id) is None
    )


@pytest.mark.parametrize(
    ("lang", "title"),
    [
        ("th", "บัญชีระดับ 2: สมัครด้วยตนเองที่สถานีตำรวจ"),
        ("vi", "Tài khoản mức 2: đăng ký trực tiếp tại đồn công an"),
        ("en", "Level 2: in person at the police station"),
    ],
)
def test_level_2_is_explained_as_in_person(stack, browser, lang, title):
    page = with_card(stack, browser, 0, lang)
    page.click("[data-level2-link]")
    expect(page.locator("h1")).to_have_text(title)
    expect(page.locator("[data-level2-steps] li")).to_have_count(4)
    if lang == "en":
        page.screenshot(path=str(SCREENS / "eid-level2-en.png"))
