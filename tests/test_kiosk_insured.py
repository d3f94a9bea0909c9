"""Flow 1, the insured-person check, in Chromium with the real card through pcscd.

Online the record comes live from the server; with the broker stopped it comes from the
station's encrypted replica, labelled offline with its as-of date. Pulling the card clears
the screen; the old-age savings screen has no print path.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, expect

from devtools.cardstack import LocalPcscd
from sync_server.audit.models import AuditEvent
from tests.kiosk_browser import KioskStack, chromium, open_page, settled_content, wait_for


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with chromium() as (_, browser):
        yield browser


@pytest.fixture
def stack(tmp_path: Path, pcscd: LocalPcscd) -> Iterator[KioskStack]:
    kiosk = KioskStack(tmp_path, pcscd)
    try:
        yield kiosk.start(services=False)
    finally:
        kiosk.stop()


def thai(amount) -> str:  # type: ignore[no-untyped-def]
    return f"{amount:,.2f}"


def test_insert_shows_the_live_summary_then_removal_clears_it(stack: KioskStack, browser: Browser):
    page = open_page(browser, stack.url)
    expect(page.locator("h1")).to_contain_text("กรุณาเสียบบัตรประจำตัวประชาชน")
    resident = stack.resident(0)
    stack.insert(0)
    expect(page.locator("[data-summary]")).to_be_visible(timeout=30_000)
    expect(page.locator("[data-name]")).to_have_text(resident.full_name_th)
    expect(page.locator("[data-source]")).to_have_attribute("data-source", "live")
    expect(page.locator(".as-of")).to_contain_text("ข้อมูล ณ วันที่ 24-11-2569")
    expect(page.locator("[data-summary]")).to_contain_text(thai(resident.contributions_baht))
    expect(page.locator("[data-summary]")).to_contain_text(f"{resident.contributions_count} ครั้ง")
    # The server audited the live lookup.
    audited = AuditEvent.select().where(AuditEvent.action == "lookup.insured_record")
    assert [event.subject for event in audited] == [resident.citizen_id]

    stack.remove()
    expect(page.locator("[data-summary]")).to_have_count(0, timeout=5_000)
    expect(page.locator("h1")).to_contain_text("กรุณาเสียบบัตรประจำตัวประชาชน")
    assert resident.full_name_th not in settled_content(page)
    assert stack.kiosk.state.visit is None


@pytest.mark.parametrize(
    ("lang", "heading", "status_word"),
    [("vi", "Tiền đóng góp", "Năm (Phật lịch)"), ("en", "Contributions", "Year (B.E.)")],
)
def test_detail_screens_in_each_language(stack, browser, lang, heading, status_word):
    page = open_page(browser, stack.url + f"{lang}/", lang)
    stack.insert(0)
    expect(page.locator("[data-summary]")).to_be_visible(timeout=30_000)
    page.click("[data-tab=contributions]")
    expect(page.locator("h1")).to_have_text(heading)
    expect(page.locator("thead")).to_contain_text(status_word)
    record = stack.station.replica.insured_record(stack.resident(0).citizen_id)
    total = sum(row.amount for row in record.contributions)
    expect(page.locator("[data-table=contributions] [data-total]")).to_have_text(thai(total))
    page.click("[data-tab=benefits]")
    expect(page.locator("[data-warning=incomplete]")).to_be_visible()
    page.click("[data-tab=hospital]")
    expect(page.locator("[data-entitled]")).to_be_visible()
    page.click("[data-tab=old_age]")
    expect(page.locator("[data-warning=verification-only]")).to_be_visible()
    # Every screen says what its data is as of; and the language survives each click.
    expect(page.locator(".as-of")).to_be_visible()
    assert page.url.rstrip("/").endswith(f"/{lang}/insured/old_age")


def test_old_age_screen_has_no_print_path(stack: KioskStack, browser: Browser):
    page = open_page(browser, stack.url)
    stack.insert(0)
    expect(page.locator("[data-summary]")).to_be_visible(timeout=30_000)
    page.click("[data-tab=old_age]")
    expect(page.locator("[data-table=old_age]")).to_be_visible()
    screen = page.inner_html("#screen").lower()
    assert "print" not in screen and "พิมพ์" not in page.inner_text("#screen").replace(
        "ไม่สามารถพิมพ์ได้", ""
    )
    # Nothing on the screen is a control except the tabs that move between screens.
    assert page.locator("#screen button, #screen form, #screen input").count() == 0
    assert "window.print" not in page.content()


def test_offline_the_summary_comes_from_the_replica_labelled_offline(stack, browser):
    page = open_page(browser, stack.url)
    stack.stop_broker()
    resident = stack.resident(0)
    stack.insert(0)
    expect(page.locator("[data-summary]")).to_be_visible(timeout=30_000)
    source = page.locator("[data-source]")
    expect(source).to_have_attribute("data-source", "replica")
    expect(source).to_contain_text("ออฟไลน์")
    expect(source).to_contain_text("ข้อมูล ณ วันที่ 24-11-2569")
    expect(page.locator("[data-net]")).to_have_attribute("data-net", "offline")
    # The offline lookup is audited through the outbox.
    pending = stack.station.store.outbox.backlog().pending
    assert pending == 1
    stack.remove()
    expect(page.locator("[data-summary]")).to_have_count(0, timeout=5_000)
    wait_for(lambda: stack.kiosk.state.visit is None, "the visit to end")
    assert resident.citizen_id not in settled_content(page)
    # Back online, the offline lookup reaches the server's audit trail.
    stack.broker.start()
    wait_for(
        lambda: AuditEvent.get_or_none(AuditEvent.action == "lookup.insured_record.offline"),
        "the offline lookup's audit event",
    )
    event = AuditEvent.get(AuditEvent.action == "lookup.insured_record.offline")
    assert (event.actor, event.subject, event.outcome) == (
        "station:st-a",
        resident.citizen_id,
        "found",
    )
