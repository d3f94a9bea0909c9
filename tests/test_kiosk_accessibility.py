"""Accessibility of the unattended kiosk (EN 301 549 as the reference), in Chromium by taps.

- "Listen" on every screen says the screen's heading and main instruction in the screen's
  language: the real espeak-ng writes it into a WAV file (the station's ``guidance_wav_dir``),
  checked to hold speech, in Thai, Vietnamese and English.
- The idle countdown shows, counts down and "More time" on it keeps the visit; "More time"
  in the footer extends every timeout of the visit, on the page and on the station.
- The large-text toggle switches large text and high contrast on and off, and keeps it from
  screen to screen until the next resident.
- The on-screen keyboard types digits, Thai and Latin letters, and deletes.
"""

from __future__ import annotations

import wave
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect

from device.config import KioskConfig
from devtools.cardstack import LocalPcscd
from tests import screen_checks
from tests.helpers import screens_dir
from tests.kiosk_browser import KioskStack, chromium, open_page, wait_for
from tests.test_kiosk_as_used import osk_key, tap

SHORT_IDLE_S = 10.0
COUNTDOWN_S = 3.0
SCREENS = screens_dir()


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with chromium() as (_, browser):
        yield browser


@pytest.fixture
def stack(tmp_path: Path, pcscd: LocalPcscd) -> Iterator[KioskStack]:
    config = KioskConfig(
        port=0,
        idle_timeout_s=SHORT_IDLE_S,
        countdown_s=COUNTDOWN_S,
        guidance_wav_dir=str(tmp_path / "speech"),
    )
    kiosk = KioskStack(tmp_path, pcscd, kiosk_config=config)
    try:
        yield kiosk.start(replica=False, services=False)
    finally:
        kiosk.stop()


def seconds_of_speech(path: Path) -> float:
    with wave.open(str(path)) as audio:
        frames = audio.readframes(audio.getnframes())
        seconds = audio.getnframes() / audio.getframerate()
    assert any(frames), "the WAV is silence"
    return seconds


@pytest.mark.parametrize(
    ("lang", "heading"),
    [
        ("th", "กรุณาเสียบบัตรประจำตัวประชาชน"),
        ("vi", "Vui lòng cắm thẻ căn cước"),
        ("en", "Please insert your ID card"),
    ],
)
def test_listen_speaks_the_heading_and_instruction_in_the_screens_language(
    stack: KioskStack, browser: Browser, lang: str, heading: str
):
    page = open_page(browser, stack.url + f"{lang}/", lang, touch=True)
    said = page.evaluate("window.kioskGuidance()")
    assert said.startswith(page.locator("#screen h1").first.inner_text())
    assert len(said) > len(page.locator("#screen h1").first.inner_text()) + 5  # and more
    tap(page, page.locator("[data-action=listen]"))
    guide = stack.kiosk.state.guide
    wav = wait_for(lambda: guide.last_wav, "the guidance to start")
    assert wav.name.endswith(f"-{lang}.wav")
    assert guide.wait() == 0
    assert seconds_of_speech(wav) > 1.0
    expect(page.locator("#screen h1").first).to_contain_text(heading.split()[0])


def test_listen_reads_the_countdown_when_it_is_up(stack: KioskStack, browser: Browser):
    page = open_page(browser, stack.url + "en/", "en", touch=True)
    tap(page, page.locator("[data-service=petition]"))
    expect(page.locator("#countdown")).to_be_visible(timeout=(SHORT_IDLE_S + 5) * 1000)
    said = page.evaluate("window.kioskGuidance()")
    assert "More time" in said


def test_the_countdown_shows_and_more_time_keeps_the_visit(stack: KioskStack, browser: Browser):
    page = open_page(browser, stack.url + "th/", "th", touch=True)
    tap(page, page.locator("[data-service=petition]"))
    visit = wait_for(lambda: stack.kiosk.state.visit, "the petition's visit")
    countdown = page.locator("#countdown")
    expect(countdown).to_be_hidden()
    expect(countdown).to_be_visible(timeout=(SHORT_IDLE_S + 5) * 1000)
    first = int(countdown.locator("[data-seconds]").inner_text())
    assert 1 <= first <= COUNTDOWN_S
    page.screenshot(path=str(SCREENS / "idle-countdown-more-time-th.png"))
    assert screen_checks.target_findings(page) == []
    tap(page, countdown.locator("[data-extend]"))
    expect(countdown).to_be_hidden()
    assert stack.kiosk.state.visit is visit and visit.state == "open"
    # Left alone again, the countdown comes back and, untouched, ends the visit.
    expect(countdown).to_be_visible(timeout=(SHORT_IDLE_S + 5) * 1000)
    expect(page.locator("body")).to_have_attribute("data-page", "home", timeout=15_000)
    assert visit.state == "ended" or stack.kiosk.state.visit is not visit


def test_more_time_in_the_footer_extends_every_timeout(stack: KioskStack, browser: Browser):
    page = open_page(browser, stack.url + "vi/", "vi", touch=True)
    tap(page, page.locator("[data-service=petition]"))
    visit = wait_for(lambda: stack.kiosk.state.visit, "the petition's visit")
    more = page.locator("footer [data-action=more-time]")
    expect(more).to_be_visible()
    expect(more).to_have_text("Thêm thời gian")
    tap(page, more)
    expect(page.locator("body")).to_have_attribute("data-idle", str(int(SHORT_IDLE_S * 2)))
    expect(page.locator("body")).to_have_attribute("data-countdown", str(int(COUNTDOWN_S * 2)))
    expect(page.locator("[data-time-given]")).to_contain_text("phút")
    assert visit.patience == 2
    assert stack.kiosk.state.idle_timeout_s(visit) == SHORT_IDLE_S * 2
    # The next screen of the same visit keeps the longer timeouts.
    tap(page, page.locator("[data-choice=general_petition]"))
    expect(page.locator("body")).to_have_attribute("data-idle", str(int(SHORT_IDLE_S * 2)))
    expect(page.locator("[data-time-given]")).to_contain_text("phút")
    for _ in range(6):  # bounded: at most five times the configured timeout
        tap(page, page.locator("footer [data-action=more-time]"))
    expect(page.locator("body")).to_have_attribute("data-idle", str(int(SHORT_IDLE_S * 5)))
    page.screenshot(path=str(SCREENS / "more-time-vi.png"))


def font_px(page: Page) -> float:
    return float(page.evaluate("parseFloat(getComputedStyle(document.body).fontSize)"))


def test_the_large_text_toggle_switches_and_stays_until_the_next_resident(
    stack: KioskStack, browser: Browser
):
    page = open_page(browser, stack.url + "en/", "en", touch=True)
    normal = font_px(page)
    toggle = page.locator("header [data-action=display]")
    expect(toggle).to_have_text("Large text")
    tap(page, toggle)
    expect(page.locator("body")).to_have_class("large")
    assert font_px(page) >= normal * 1.3
    background = page.evaluate("getComputedStyle(document.body).backgroundColor")
    assert background == "rgb(0, 0, 0)"  # high contrast: white and yellow on black
    assert screen_checks.contrast_findings(page) == []
    assert screen_checks.target_findings(page) == []
    # Another screen keeps it.
    tap(page, page.locator("[data-service=tracking]"))
    expect(page.locator("body")).to_have_class("large")
    expect(page.locator("header [data-action=display]")).to_have_text("Normal text")
    page.screenshot(path=str(SCREENS / "large-text-tracking-en.png"))
    tap(page, page.locator("header [data-action=display]"))
    expect(page.locator("body")).not_to_have_class("large")
    assert font_px(page) == normal
    # On again, then the next resident starts at the kiosk's root: normal text.
    tap(page, page.locator("header [data-action=display]"))
    expect(page.locator("body")).to_have_class("large")
    page.goto(stack.url)
    expect(page.locator("body")).not_to_have_class("large")


def test_the_keyboard_types_digits_letters_and_deletes(stack: KioskStack, browser: Browser):
    page = open_page(browser, stack.url + "th/", "th", touch=True)
    tap(page, page.locator("[data-service=petition]"))
    tap(page, page.locator("[data-choice=general_petition]"))
    phone = page.locator("input[name=phone]")
    tap(page, phone)
    osk = page.locator("#osk")
    expect(osk).to_be_visible()
    # A phone field gets the digits layout: ten digits and a delete key.
    expect(osk.locator(".osk-key", has_text="5")).to_have_count(1)
    assert osk.locator(".osk-key", has_text="ก").count() == 0
    for digit in "0812":
        tap(page, osk_key(page, digit))
    tap(page, osk.locator("[data-action=backspace]"))
    tap(page, osk_key(page, "9"))
    expect(phone).to_have_value("0819")
    page.screenshot(path=str(SCREENS / "keyboard-digits-th.png"))
    # Every key is a large enough target.
    assert screen_checks.target_findings(page) == []
    tap(page, osk.locator("[data-action=done]"))
    expect(osk).to_be_hidden()
    expect(phone).to_have_value("0819")
