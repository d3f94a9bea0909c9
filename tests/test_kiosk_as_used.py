"""The kiosk as people use it (issue "The kiosk as people use it"), in Chromium, by taps.

Every step is a tap at a point on the 1280x800 touchscreen, as a finger would make it: the
on-screen keyboard's Done must never reach what lies under it, a locked station shows its
out-of-service screen in every language, and a visit that timed out with the card still in
can start again without pulling the card, in the resident's language.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Locator, Page, expect

from device.config import KioskConfig
from devtools.cardstack import LocalPcscd
from tests.kiosk_browser import KioskStack, chromium, open_page, wait_for

#: The shortest idle timeout the config allows, so the timeout test waits seconds, not 90.
SHORT_IDLE_S = 10.0


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with chromium() as (_, browser):
        yield browser


@pytest.fixture
def stack(tmp_path: Path, pcscd: LocalPcscd) -> Iterator[KioskStack]:
    kiosk = KioskStack(
        tmp_path,
        pcscd,
        kiosk_config=KioskConfig(port=0, idle_timeout_s=SHORT_IDLE_S, countdown_s=3),
    )
    try:
        yield kiosk.start(services=False)
    finally:
        kiosk.stop()


def tap(page: Page, target: Locator) -> None:
    """A finger's tap on the middle of ``target``, wherever it is drawn now.

    A touch, not a mouse click: after a touch the browser hit-tests the click again where
    the finger was, so whatever a pointerdown handler uncovered there receives it.
    """
    box = target.bounding_box()
    assert box is not None, "nothing to tap: the target is not on the screen"
    page.touchscreen.tap(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)


def osk_key(page: Page, text: str) -> Locator:
    """The on-screen keyboard's key that shows ``text``."""
    return page.locator("#osk .osk-key", has_text=text).first


@pytest.mark.parametrize(
    ("lang", "layout", "letters", "done"),
    [("th", "ไทย", "กขค", "เสร็จ"), ("en", None, "abc", "Done"), ("vi", None, "abc", "Xong")],
)
def test_done_on_the_keyboard_hides_it_and_keeps_the_form(
    stack: KioskStack, browser: Browser, lang: str, layout: str | None, letters: str, done: str
):
    page = open_page(browser, stack.url + f"{lang}/track/", lang, touch=True)
    number = page.locator("input[name=number]")
    tap(page, number)
    expect(page.locator("#osk")).to_be_visible()
    if layout is not None:
        tap(page, osk_key(page, layout))
    for letter in letters:
        tap(page, osk_key(page, letter))
    expect(number).to_have_value(letters)
    visit = stack.kiosk.state.visit
    done_key = page.locator("#osk [data-action=done]")
    expect(done_key).to_have_text(done)
    tap(page, done_key)

    expect(page.locator("#osk")).to_be_hidden()
    page.wait_for_timeout(500)  # long enough for a click that slipped through to navigate
    assert stack.kiosk.state.visit is visit and visit.state == "open", "the visit was ended"
    expect(page.locator("input[name=number]")).to_have_value(letters)


@pytest.mark.parametrize(
    ("lang", "title"),
    [
        ("th", "ตู้นี้ปิดให้บริการชั่วคราว"),
        ("vi", "Máy tạm ngừng phục vụ"),
        ("en", "This station is temporarily out of service"),
    ],
)
def test_a_locked_station_shows_its_out_of_service_screen(
    stack: KioskStack, browser: Browser, lang: str, title: str
):
    stack.station.service_lock.lock("broken screen")
    page = open_page(browser, stack.url + f"{lang}/", lang, touch=True)
    screen = page.locator("#out-of-service")
    expect(screen).to_be_visible()
    expect(screen.locator("h1")).to_have_text(title)
    assert page.locator("html").get_attribute("lang") == lang
    response = page.request.get(stack.url + f"{lang}/track/")
    assert response.status == 503 and title in response.text()


def test_the_out_of_service_screen_goes_home_by_itself_when_unlocked(
    stack: KioskStack, browser: Browser
):
    page = open_page(browser, stack.url + "en/", "en", touch=True)
    expect(page.locator(".hero")).to_be_visible()
    # Locked while the home screen is up: it gives way to the out-of-service screen, in the
    # language of whoever is at it...
    stack.station.service_lock.lock("maintenance")
    expect(page.locator("#out-of-service")).to_be_visible(timeout=10_000)
    expect(page.locator("html")).to_have_attribute("lang", "en")
    expect(page.locator("#out-of-service h1")).to_have_text(
        "This station is temporarily out of service"
    )
    # ...and once unlocked, nobody has to touch it: it reloads to the home screen.
    stack.station.service_lock.unlock()
    expect(page.locator(".hero")).to_be_visible(timeout=10_000)
    expect(page.locator("#out-of-service")).to_have_count(0)
    expect(page.locator("body")).to_have_attribute("data-page", "home")


def test_after_a_timeout_with_the_card_in_the_resident_starts_again_in_their_language(
    stack: KioskStack, browser: Browser
):
    page = open_page(browser, stack.url + "en/", "en", touch=True)
    stack.insert(0)
    expect(page.locator("[data-summary]")).to_be_visible(timeout=30_000)
    first = stack.kiosk.state.visit

    # Nobody taps: the countdown runs out and the screen goes home, still in English.
    notice = page.locator("[data-notice=visit-ended]")
    expect(notice).to_be_visible(timeout=(SHORT_IDLE_S + 15) * 1000)
    expect(page.locator("html")).to_have_attribute("lang", "en")
    expect(notice).to_contain_text("no one touched the screen")
    assert stack.station.hardware.card.card_present

    tap(page, page.locator("[data-action=start-again]"))
    expect(page.locator("[data-summary]")).to_be_visible(timeout=30_000)
    expect(page.locator("html")).to_have_attribute("lang", "en")
    second = wait_for(lambda: stack.kiosk.state.visit, "the new visit")
    assert second is not first and second.state == "ready"


def test_after_finish_with_the_card_in_a_service_tile_starts_a_new_visit(
    stack: KioskStack, browser: Browser
):
    page = open_page(browser, stack.url + "vi/", "vi", touch=True)
    stack.insert(0)
    expect(page.locator("[data-summary]")).to_be_visible(timeout=30_000)
    tap(page, page.locator("[data-finish] button"))
    notice = page.locator("[data-notice=visit-ended]")
    expect(notice).to_be_visible(timeout=10_000)
    expect(page.locator("html")).to_have_attribute("lang", "vi")

    tap(page, page.locator("[data-service=petition]"))
    expect(page.locator("[data-choice=general_petition]")).to_be_visible(timeout=10_000)
    expect(page.locator("html")).to_have_attribute("lang", "vi")
