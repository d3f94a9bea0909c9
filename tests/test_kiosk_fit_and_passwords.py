"""The kiosk's layout at 1280x800 and its password screens, as people use them, by taps.

Issue "The kiosk as people use it", items 8 and 9: the summary down to the old-age savings
and every service fit the touchscreen (or a "more below" hint says there is more, and one
tap scrolls on); the card drawing on the home screen is whole; the keyboard opens on an
autofocused field; the e-ID password's rules show before the first attempt, a refusal keeps
the code, the strength meter says what it measures; the password reset fills in the
insurance number from the card, says when it is reading aloud and when it has finished, and
gives a temporary password without look-alikes, grouped for reading, that logs in.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Locator, Page, expect

from devtools.cardstack import LocalPcscd
from sync_server.records.accounts import change_password, check_password
from sync_server.records.models import IdentityAccount, InsuranceAccount
from sync_server.records.passwords import READABLE_ALPHABET
from sync_server.sms.models import SentSms
from tests.kiosk_browser import KioskStack, chromium, open_page, wait_for
from tests.test_kiosk_as_used import osk_key, tap

TEMPORARY = re.compile(rf"[{READABLE_ALPHABET}]{{3}}(-[{READABLE_ALPHABET}]{{3}}){{4}}")


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


def in_view(page: Page, target: Locator) -> bool:
    """Whether ``target`` is wholly inside the visible part of the scrolling screen, and a
    finger on its middle reaches it (nothing, such as the "more below" hint, lies over it)."""
    return page.evaluate(
        """(el) => {
          const screen = document.getElementById("screen").getBoundingClientRect();
          const box = el.getBoundingClientRect();
          const inside = box.top >= screen.top && box.bottom <= screen.bottom
            && box.left >= screen.left && box.right <= screen.right && box.height > 0;
          const hit = document.elementFromPoint(box.left + box.width / 2, box.top + box.height / 2);
          return inside && hit !== null && el.contains(hit);
        }""",
        target.element_handle(),
    )


def with_card(stack: KioskStack, browser: Browser, lang: str, index: int = 0) -> Page:
    page = open_page(browser, stack.url + f"{lang}/", lang, touch=True)
    stack.insert(index)
    expect(page.locator("dl[data-summary]")).to_be_visible(timeout=30_000)
    return page


def type_on_keyboard(page: Page, field: Locator, text: str) -> None:
    """Tap ``field`` and then each key of ``text`` on the on-screen keyboard.

    A field out of sight is first brought up the way a finger would (a swipe of the screen).
    """
    field.scroll_into_view_if_needed()
    tap(page, field)
    expect(page.locator("#osk")).to_be_visible()
    for ch in text:
        tap(page, page.locator(f'#osk .osk-key[data-key="{ch}"]').first)
    expect(field).to_have_value(text)


def done_typing(page: Page) -> None:
    tap(page, page.locator("#osk [data-action=done]"))
    expect(page.locator("#osk")).to_be_hidden()


def sms_code(phone: str, seen: int = 0) -> str:
    rows = wait_for(
        lambda: list(SentSms.select().where(SentSms.to == phone).order_by(SentSms.id))[seen:],
        "the SMS with the code",
    )
    return re.search(r"\b(\d{6})\b", rows[-1].text).group(1)


# -- layout ----------------------------------------------------------------------------


def test_the_summary_and_every_service_fit_the_screen_in_every_language(stack, browser):
    page = with_card(stack, browser, "th")
    for lang in ("th", "vi", "en"):
        if lang != "th":
            tap(page, page.locator(f"[data-lang={lang}]"))
            expect(page.locator("html")).to_have_attribute("lang", lang)
        page.wait_for_function("() => window.kioskPaintedAt")
        old_age = page.locator("dl[data-summary] dd").last
        assert in_view(page, old_age), (lang, "the old-age savings row is below the fold")
        tiles = page.locator("[data-service]")
        assert tiles.count() == 7  # four public services, three utilities
        for i in range(tiles.count()):
            assert in_view(page, tiles.nth(i)), (lang, tiles.nth(i).inner_text())
        # All of it fits: nothing to hint at.
        expect(page.locator("[data-more]")).to_be_hidden()


def test_in_large_text_the_screen_says_there_is_more_and_a_tap_scrolls_to_it(stack, browser):
    page = with_card(stack, browser, "en")
    tap(page, page.locator("[data-action=display]"))
    expect(page.locator("body")).to_have_class(re.compile(r"\blarge\b"))
    page.wait_for_function("() => window.kioskPaintedAt")
    tiles = page.locator("[data-service]")
    last = tiles.last
    assert not in_view(page, last)
    more = page.locator("[data-more]")
    expect(more).to_be_visible()
    assert in_view(page, more), "the hint itself must be on the screen"
    expect(more).to_have_text("More below")
    for _ in range(10):
        if not more.is_visible():
            break
        tap(page, more)
        page.wait_for_timeout(400)  # the smooth scroll
    assert in_view(page, last), "tapping the hint never reached the last service"
    expect(more).to_be_hidden()  # at the end: nothing more below


def test_the_card_drawing_on_the_home_screen_is_whole(stack, browser):
    for lang in ("th", "vi", "en"):
        page = open_page(browser, stack.url + f"{lang}/", lang, touch=True)
        page.wait_for_function("() => window.kioskPaintedAt")
        art = page.locator("[data-card-art]")
        hero = page.locator(".hero")
        card = art.locator("[data-art=card]")
        a, h, c = art.bounding_box(), hero.bounding_box(), card.bounding_box()
        assert a and h and c and c["height"] > 60, "no card drawn"
        assert h["x"] <= a["x"] and a["x"] + a["width"] <= h["x"] + h["width"]
        assert h["y"] <= a["y"] and a["y"] + a["height"] <= h["y"] + h["height"]
        assert a["x"] <= c["x"] and c["x"] + c["width"] <= a["x"] + a["width"]
        assert a["y"] <= c["y"] and c["y"] + c["height"] <= a["y"] + a["height"]
        assert in_view(page, hero.locator("h1"))
        page.context.close()


def test_the_keyboard_opens_on_an_autofocused_field_every_time(stack, browser):
    page = with_card(stack, browser, "en")
    tap(page, page.locator("[data-service='password.start']"))
    for attempt in range(4):
        if attempt:
            page.reload()
        page.wait_for_function("() => window.kioskPaintedAt")
        # No tap: the field has the focus and the keyboard is up, with digits.
        expect(page.locator("#osk")).to_be_visible()
        expect(page.locator("input[name=phone]")).to_be_focused()
        expect(osk_key(page, "7")).to_be_visible()
        expect(page.locator("[data-more]")).to_be_hidden()  # never over the form while typing

    # A refusal: the message is read first (no keyboard over it), and what was typed stays.
    for digit in "0800000000":
        tap(page, osk_key(page, digit))
    done_typing(page)
    tap(page, page.locator("#screen button[type=submit]"))
    error = page.locator("[data-error=no_match]")
    expect(error).to_be_visible()
    page.wait_for_function("() => window.kioskPaintedAt")
    expect(page.locator("#osk")).to_be_hidden()
    assert in_view(page, error)
    expect(page.locator("input[name=phone]")).to_have_value("0800000000")
    tap(page, page.locator("input[name=phone]"))
    expect(page.locator("#osk")).to_be_visible()


# -- the e-ID password ------------------------------------------------------------------


def test_eid_password_rules_show_first_and_a_refusal_keeps_the_code(stack, browser):
    resident = stack.resident(0)
    page = with_card(stack, browser, "en")
    tap(page, page.locator("[data-service='eid.start']"))
    tap(page, page.locator("[data-for=me]"))
    type_on_keyboard(page, page.locator("input[name=phone]"), "0861234567")
    done_typing(page)
    tap(page, page.locator("#screen button[type=submit]"))

    # Before any attempt: the rules and the labelled meter are on the screen.
    rules = page.locator("[data-password-rules]")
    expect(rules).to_be_visible()
    expect(rules.locator("li")).to_have_text(
        ["At least 8 characters", "At least one letter (A–Z)", "At least one digit (0–9)"]
    )
    expect(page.locator("[data-error]")).to_have_count(0)
    label = page.locator("[data-meter-label]")
    expect(label).to_have_text("Password strength: Too weak")
    expect(page.locator("[data-meter]")).to_have_attribute("aria-labelledby", "strength-label")

    code = sms_code("0861234567")
    type_on_keyboard(page, page.locator("input[name=code]"), code)
    type_on_keyboard(page, page.locator("input[name=password]"), "abc123")
    expect(rules.locator("li.met")).to_have_count(2)  # a letter, a digit; not 8 long
    type_on_keyboard(page, page.locator("input[name=password_again]"), "abc123")
    done_typing(page)
    tap(page, page.locator("#screen button[type=submit]"))

    expect(page.locator("[data-error=weak_password]")).to_be_visible()
    expect(page.locator("input[name=code]")).to_have_value(code)  # not typed twice
    expect(page.locator("input[name=password]")).to_have_value("")  # never echoed back
    expect(rules).to_be_visible()

    type_on_keyboard(page, page.locator("input[name=password]"), "lobby2042")
    expect(rules.locator("li.met")).to_have_count(3)
    expect(label).to_have_text("Password strength: Weak")
    type_on_keyboard(page, page.locator("input[name=password_again]"), "lobby2042")
    done_typing(page)
    tap(page, page.locator("#screen button[type=submit]"))
    expect(page.locator("[data-eid-done]")).to_be_visible()
    assert IdentityAccount.get_by_id(resident.citizen_id).level == 1


@pytest.mark.parametrize(
    ("lang", "label"),
    [("th", "ความปลอดภัยของรหัสผ่าน: อ่อนเกินไป"), ("vi", "Độ mạnh mật khẩu: Quá yếu")],
)
def test_the_meter_label_and_rules_are_translated(stack, browser, lang, label):
    page = with_card(stack, browser, lang)
    tap(page, page.locator("[data-service='eid.start']"))
    tap(page, page.locator("[data-for=me]"))
    type_on_keyboard(page, page.locator("input[name=phone]"), "0861234567")
    done_typing(page)
    tap(page, page.locator("#screen button[type=submit]"))
    expect(page.locator("[data-meter-label]")).to_have_text(label)
    expect(page.locator("[data-password-rules] li")).to_have_count(3)
    assert "characters" not in page.locator("[data-password-rules]").inner_text()


# -- the password reset -----------------------------------------------------------------


def test_password_reset_fills_in_the_number_reads_aloud_visibly_and_gives_a_readable_password(
    stack, browser
):
    citizen_id = stack.resident(0).citizen_id
    account = InsuranceAccount.get(InsuranceAccount.citizen == citizen_id)
    page = with_card(stack, browser, "en")
    tap(page, page.locator("[data-service='password.start']"))

    number = page.locator("input[name=insurance_number]")
    c = citizen_id
    expect(number).to_have_value(f"{c[:1]}-{c[1:5]}-{c[5:10]}-{c[10:12]}-{c[12:]}")
    expect(page.locator("#osk")).to_be_visible()  # on the phone, the first empty field
    phone = page.locator("input[name=phone]")
    for digit in account.phone:
        tap(page, osk_key(page, digit))
    expect(phone).to_have_value(account.phone)
    done_typing(page)
    tap(page, page.locator("#screen button[type=submit]"))

    code = page.locator("input[name=code]")
    expect(code).to_be_focused()
    expect(page.locator("#osk")).to_be_visible()
    for digit in sms_code(account.phone):
        tap(page, osk_key(page, digit))
    done_typing(page)
    tap(page, page.locator("#screen button[type=submit]"))

    shown = page.locator("[data-temporary-password]").inner_text().strip()
    assert TEMPORARY.fullmatch(shown), shown
    # It logs in as shown, and as typed without the dashes or in small letters.
    assert check_password(account.insurance_number, shown)
    assert check_password(account.insurance_number, shown.replace("-", ""))
    assert check_password(account.insurance_number, shown.replace("-", " ").lower())
    assert change_password(account.insurance_number, shown.replace("-", ""), "My-own-pass-42")

    # "Read aloud": says it is speaking, then that it has finished.
    status = page.locator("[data-read-aloud-status]")
    expect(status).to_have_attribute("data-state", "idle")
    page.evaluate(
        """() => {
          window.speechStates = [];
          const el = document.querySelector("[data-read-aloud-status]");
          const note = () => window.speechStates.push(el.dataset.state + ":" + el.textContent);
          const what = { attributes: true, childList: true, subtree: true };
          new MutationObserver(note).observe(el, what);
        }"""
    )
    tap(page, page.locator("[data-read-aloud]"))
    expect(status).to_have_attribute("data-state", "done", timeout=60_000)
    expect(status).to_have_text("Finished reading")
    expect(page.locator("[data-read-aloud]")).to_have_text("Read it again")
    expect(page.locator("[data-read-aloud]")).to_be_enabled()
    states = page.evaluate("window.speechStates")
    assert "speaking:Reading aloud… listen through the headphones" in states, states
    assert states.index(next(s for s in states if s.startswith("speaking"))) < states.index(
        "done:Finished reading"
    )
    # The password stayed on the screen throughout (no reload took it away and back).
    expect(page.locator("[data-temporary-password]")).to_have_text(shown)
