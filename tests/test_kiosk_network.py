"""Network honesty (issue 12 #5) in Chromium, by taps, with the broker frozen mid-visit.

The broker is frozen with SIGSTOP by its pid (the kernel still accepts its TCP traffic, so
nothing fails fast: the worst kind of network drop) and thawed with SIGCONT. The footer's
label must follow the link without a reload; "send code" must show that it is working and
then say the server cannot be reached, never skip the code step; and the code request the
frozen broker held must not be acted on when it thaws.
"""

from __future__ import annotations

import json
import os
import re
import signal
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Locator, Page, expect

from devtools.broker import LocalBroker
from devtools.cardstack import LocalPcscd
from sync_server.audit.models import AuditEvent
from sync_server.otp.models import OtpCode
from sync_server.petitions.models import Petition
from sync_server.sms.models import SentSms
from tests.kiosk_browser import KioskStack, chromium, open_page, wait_for
from tests.test_kiosk_as_used import osk_key
from tests.test_kiosk_as_used import tap as tap_here
from tests.test_kiosk_petition import sms_code

PHONE = "0812345678"
#: The server refuses a kiosk request older than this (seconds; production: 15).
MAX_AGE_S = 2.0
#: A hang guard for the label, never a speed requirement (the figure is printed).
LINK_GUARD_MS = 60_000


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with chromium() as (_, browser):
        yield browser


@pytest.fixture
def stack(tmp_path: Path, pcscd: LocalPcscd) -> Iterator[KioskStack]:
    kiosk = KioskStack(tmp_path, pcscd, server_config={"KIOSK_REQUEST_MAX_AGE_S": MAX_AGE_S})
    try:
        yield kiosk.start()
    finally:
        kiosk.stop()


@contextmanager
def frozen(broker: LocalBroker) -> Iterator[None]:
    """Mosquitto stopped dead (SIGSTOP by pid), then let go again (SIGCONT)."""
    assert broker.process is not None
    pid = broker.process.pid
    os.kill(pid, signal.SIGSTOP)
    try:
        yield
    finally:
        os.kill(pid, signal.SIGCONT)


def tap(page: Page, target: Locator) -> None:
    """Scroll ``target`` into view as a finger would (a summary's tiles sit below the fold),
    then tap it."""
    target.scroll_into_view_if_needed()
    tap_here(page, target)


def type_digits(page: Page, field: str, digits: str) -> None:
    """Tap the field, then each digit on the on-screen keyboard, then its Done key."""
    tap(page, page.locator(f"input[name={field}]"))
    expect(page.locator("#osk")).to_be_visible()
    for digit in digits:
        tap(page, osk_key(page, digit))
    tap(page, page.locator("#osk [data-action=done]"))
    expect(page.locator("#osk")).to_be_hidden()


def mark_document(page: Page) -> None:
    """A mark that a reload or a navigation would wipe."""
    page.evaluate("window.sameDocument = true")


def same_document(page: Page) -> bool:
    return page.evaluate("window.sameDocument === true")


def watch_working(page: Page) -> list[str]:
    """Record every text the "working" overlay shows from now on. The page reports it itself
    (a mutation observer calling back into the test) because the form navigates right after
    showing it: reading the overlay from the test would race that navigation."""
    seen: list[str] = []
    page.expose_function("reportWorking", lambda text: seen.append(text))
    page.evaluate(
        """() => { const el = document.getElementById("working");
                   new MutationObserver(() => {
                     if (!el.hidden) window.reportWorking(el.innerText.trim());
                   }).observe(el, {attributes: true, attributeFilter: ["hidden"]}); }"""
    )
    return seen


def stale_refusals() -> int:
    """How many kiosk requests the server refused as held too long by the network."""
    return AuditEvent.select().where(AuditEvent.outcome == "stale").count()


def test_the_label_follows_the_link_live_without_a_reload(stack: KioskStack, browser: Browser):
    page = open_page(browser, stack.url + "th/", "th", touch=True)
    label = page.locator("footer [data-net]")
    expect(label).to_have_text("ออนไลน์")
    mark_document(page)

    with frozen(stack.broker):
        started = time.monotonic()
        expect(label).to_have_attribute("data-net", "offline", timeout=LINK_GUARD_MS)
        noticed_s = time.monotonic() - started
        expect(label).to_have_text("ออฟไลน์ — ใช้ข้อมูลที่เก็บไว้ในเครื่อง")
        assert same_document(page), "the page was reloaded to change the label"

    expect(label).to_have_attribute("data-net", "online", timeout=LINK_GUARD_MS)
    expect(label).to_have_text("ออนไลน์")
    assert same_document(page)
    keepalive = stack.station.sync.link.keepalive_s
    print(f"\nfrozen broker noticed after {noticed_s:.1f} s (keepalive {keepalive} s)")


def test_send_code_with_the_broker_frozen_says_so_and_the_code_never_comes_later(
    stack: KioskStack, browser: Browser
):
    page = open_page(browser, stack.url + "en/petition/", "en", touch=True)
    tap(page, page.locator("[data-choice=general_petition]"))
    type_digits(page, "phone", PHONE)
    label = page.locator("footer [data-net]")
    expect(label).to_have_text("Online")

    with frozen(stack.broker):
        sent_at = datetime.now(UTC)
        overlay = watch_working(page)
        tap(page, page.locator("[data-intent=code]"))
        error = page.locator("[data-error=server_unreachable]")
        expect(error).to_have_text(
            "Cannot reach the server right now. Please try again in a moment.",
            timeout=LINK_GUARD_MS,
        )
        assert overlay[:1] == ["Contacting the server…"]
        # Never a success, never a skip: still the phone step, no code field, no form.
        assert page.url.endswith("/en/petition/phone")
        assert page.locator("input[name=code], input[name=subject]").count() == 0
        # Without a card nothing can be filed offline, and the screen says so.
        expect(page.locator("[data-offline-policy]")).to_contain_text("Filing needs the SMS code")
        assert page.locator("[data-intent=card]").count() == 0
        expect(page.locator("input[name=phone]")).to_have_value(PHONE)  # not typed again
        expect(label).to_have_attribute("data-net", "offline", timeout=LINK_GUARD_MS)
        # Keep the broker frozen until the request it holds is older than the server takes.
        wait_for(
            lambda: datetime.now(UTC) - sent_at > timedelta(seconds=MAX_AGE_S + 0.5),
            "the held request to be stale",
        )

    expect(label).to_have_attribute("data-net", "online", timeout=LINK_GUARD_MS)
    # Asked again now, the code comes: exactly one, for the request the resident waits on.
    # The held one went first if at all: the thawed broker hands on what its socket buffer
    # held (then the server refuses it as stale) or drops it with the old connection, and the
    # station never sends it again (a QoS 1 request was re-sent after the reconnect).
    tap(page, page.locator("[data-intent=code]"))
    expect(page.locator("input[name=code]")).to_be_visible(timeout=LINK_GUARD_MS)
    sms_code(PHONE)
    assert SentSms.select().where(SentSms.to == PHONE).count() == 1
    assert OtpCode.select().count() == 1
    print(f"\nheld request refused as stale by the server: {stale_refusals()}")


def test_with_the_card_in_the_resident_chooses_to_file_with_it_when_no_code_can_be_sent(
    stack: KioskStack, browser: Browser
):
    page = open_page(browser, stack.url + "vi/", "vi", touch=True)
    stack.insert(0)
    expect(page.locator("dl[data-summary]")).to_be_visible(timeout=LINK_GUARD_MS)
    tap(page, page.locator("[data-service='petition.start']"))
    tap(page, page.locator("[data-choice=general_petition]"))
    type_digits(page, "phone", PHONE)

    with frozen(stack.broker):
        sent_at = datetime.now(UTC)
        overlay = watch_working(page)
        tap(page, page.locator("[data-intent=code]"))
        expect(page.locator("[data-error=server_unreachable]")).to_have_text(
            "Hiện không kết nối được máy chủ. Vui lòng thử lại sau ít phút.",
            timeout=LINK_GUARD_MS,
        )
        assert overlay[:1] == ["Đang liên hệ máy chủ…"]
        policy = page.locator("[data-offline-policy]")
        expect(policy).to_contain_text("thẻ căn cước thay cho mã")
        # The card stands in for the code only when the resident says so.
        assert page.locator("input[name=subject]").count() == 0
        use_card = page.locator("[data-intent=card]")
        expect(use_card).to_have_text("Tiếp tục bằng thẻ căn cước thay cho mã")
        tap(page, use_card)
        subject = page.locator("input[name=subject]")
        expect(subject).to_be_visible()
        tap(page, subject)
        for letter in "abc":
            tap(page, osk_key(page, letter))
        tap(page, page.locator("#osk [data-action=done]"))
        tap(page, page.locator("#screen button[type=submit]"))
        number = page.locator("[data-number]").inner_text()
        expect(page.locator("#screen")).to_contain_text("Trạm đang ngoại tuyến: SMS sẽ")
        wait_for(
            lambda: datetime.now(UTC) - sent_at > timedelta(seconds=MAX_AGE_S + 0.5),
            "the held request to be stale",
        )

    petition = wait_for(lambda: Petition.get_or_none(Petition.number == number), "the petition")
    assert json.loads(petition.form)["phone_check"] == "card_offline"
    # The petition came after the held code request, which was refused or dropped: no code.
    assert OtpCode.select().count() == 0
    texts = [sms.text for sms in SentSms.select().where(SentSms.to == PHONE)]
    assert not [text for text in texts if re.search(r"\b\d{6}\b", text)]
