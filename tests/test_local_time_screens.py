"""Local time and one vocabulary on the screens people use, in Chromium, by taps (issue 12, 6-7).

A petition filed at 13:57 UTC (20:57 in Bangkok) reads 20:57 on the kiosk's "my petitions",
on the status slip the kiosk prints (the ESC/POS bytes the virtual printer received) and on
the back office; its status is the same word on the kiosk and the web; a Vietnamese
deployment writes Gregorian years, on the screens and in the child's date-of-birth field; a
hospital's name is translated on the vi/en screens.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Locator, Page, expect

from contract import Transaction
from contract.local_time import VIETNAM
from contract.vocabulary import status_word
from device.config import KioskConfig
from device.store.ids import new_tx_id, petition_number
from devtools.cardstack import LocalPcscd
from hardware.printer import LayoutConfig
from sync_server.db import database
from sync_server.ingest.apply import Received, apply_batch
from tests.kiosk_browser import KioskStack, chromium, open_page, wait_for
from tests.operator_fixtures import create_test_operator
from tests.test_kiosk_as_used import tap as tap_at
from tests.web_browser import serving
from tests.web_login import login

#: The issue's petition: 20:57 in Bangkok (and in Hanoi), 13:57 UTC.
FILED = datetime(2026, 11, 24, 13, 57, tzinfo=UTC)
#: Another station filed it (the station under test keeps its own sequence numbers).
OTHER_STATION = "st-b"


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with chromium() as (_, browser):
        yield browser


def tap(page: Page, target: Locator) -> None:
    """Scroll ``target`` onto the screen as a resident would (the tiles lie below the fold on
    the summary), then tap it with a finger."""
    target.scroll_into_view_if_needed()
    tap_at(page, target)


def make_stack(tmp_path: Path, pcscd: LocalPcscd, **options: object) -> KioskStack:
    return KioskStack(
        tmp_path,
        pcscd,
        kiosk_config=KioskConfig(port=0),
        printer_layout=LayoutConfig(text_mode="codepage"),  # the slip's text is in its bytes
        **options,
    )


@pytest.fixture
def stack(tmp_path: Path, pcscd: LocalPcscd) -> Iterator[KioskStack]:
    kiosk = make_stack(tmp_path, pcscd)
    try:
        yield kiosk.start()
    finally:
        kiosk.stop()


@pytest.fixture
def vietnam(tmp_path: Path, pcscd: LocalPcscd) -> Iterator[KioskStack]:
    kiosk = make_stack(
        tmp_path,
        pcscd,
        local_time=VIETNAM,
        server_config={"TIMEZONE": "Asia/Ho_Chi_Minh", "CALENDAR": "gregorian"},
    )
    try:
        yield kiosk.start()
    finally:
        kiosk.stop()


def file_at(citizen_id: str, when: datetime) -> str:
    """A petition of ``citizen_id`` that reached the server at ``when``, applied by the
    server's own ingest code (what the worker does with a ``petition.filed`` transaction)."""
    number = petition_number(OTHER_STATION, 1)
    tx = Transaction(
        tx_id=new_tx_id(),
        station_id=OTHER_STATION,
        seq=1,
        kind="petition.filed",
        station_time=when,
        body={
            "number": number,
            "service": "general_petition",
            "phone": "0812345678",
            "form": {"subject": "ไฟทางเดินชั้น 3 ดับ"},
            "citizen_id": citizen_id,
        },
    )
    _acks, rejected = apply_batch(database.obj, [Received(tx=tx, received_at=when)])
    assert not rejected, rejected
    return number


def my_petitions(stack: KioskStack, page: Page, card: int = 0) -> None:
    """Insert the card, then tap "my petitions" under the summary."""
    stack.insert(card)
    expect(page.locator("[data-summary]")).to_be_visible(timeout=30_000)
    tap(page, page.locator('a[href$="/track/mine"]'))
    expect(page.locator("h1")).to_be_visible()


def test_my_petitions_and_the_status_slip_read_bangkok_time(stack: KioskStack, browser: Browser):
    number = file_at(stack.resident(0).citizen_id, FILED)
    page = open_page(browser, stack.url + "th/", "th", touch=True)
    my_petitions(stack, page)

    petition = page.locator(f'[data-petition="{number}"]')
    expect(petition.locator('[data-step="received"]')).to_have_text(
        "24 พ.ย. 2569 20:57 น. — ได้รับคำร้องแล้ว"
    )
    expect(petition.locator("[data-status]")).to_have_text(status_word("received", "th"))
    assert "13:57" not in petition.inner_text()

    tap(page, petition.locator("[data-print-status]"))
    expect(page.locator("[data-printed]")).to_be_visible()
    assert stack.printer is not None

    def slip() -> bytes | None:
        jobs = [job for job in stack.printer.jobs() if job.complete]
        return jobs[-1].data() if jobs else None

    data = wait_for(slip, "the status slip to print", 30.0)
    assert "24 พ.ย. 2569 20:57 น.".encode("cp874") in data  # the "updated" line
    assert "ได้รับคำร้องแล้ว / Received".encode("cp874") in data
    assert b"13:57" not in data and b"-2026" not in data


@pytest.mark.parametrize(
    ("lang", "name"), [("en", "Rajavithi Hospital"), ("vi", "Bệnh viện Rajavithi")]
)
def test_the_hospital_is_named_in_the_screens_language(
    stack: KioskStack, browser: Browser, lang: str, name: str
):
    assert stack.resident(0).hospital == "โรงพยาบาลราชวิถี"
    page = open_page(browser, stack.url + f"{lang}/", lang, touch=True)
    stack.insert(0)
    summary = page.locator("[data-summary]")
    expect(summary).to_be_visible(timeout=30_000)
    expect(summary.locator("[data-hospital]")).to_have_text(name)
    # The official Thai name beside it, as the records and the hospital know it.
    expect(summary.locator("[data-hospital-official]")).to_have_text("(โรงพยาบาลราชวิถี)")


def test_the_status_word_is_the_same_on_the_kiosk_and_the_back_office(
    stack: KioskStack, browser: Browser
):
    number = file_at(stack.resident(0).citizen_id, FILED)
    kiosk_page = open_page(browser, stack.url + "th/", "th", touch=True)
    my_petitions(stack, kiosk_page)
    kiosk_word = kiosk_page.locator(f'[data-petition="{number}"] [data-status]').inner_text()

    officer, password = create_test_operator("officer")
    with serving(stack.app) as url:
        context = browser.new_context(viewport={"width": 1280, "height": 800}, locale="th-TH")
        web = context.new_page()
        login(web, url, officer, password)
        web.goto(f"{url}/backoffice/petitions/{number}?lang=th")
        expect(web.locator(".bo-status").first).to_have_text(kiosk_word)
        assert "24 พ.ย. 2569 20:57 น." in web.content()  # received at, in Bangkok time
        web.goto(f"{url}/backoffice/?lang=th")
        row = web.locator("tr", has_text=number)
        expect(row).to_contain_text("24 พ.ย. 2569 20:57 น.")
        expect(row.locator(".bo-status")).to_have_text(kiosk_word)
        context.close()
    assert kiosk_word == "ได้รับคำร้องแล้ว"


def test_a_vietnamese_deployment_writes_gregorian_years(vietnam: KioskStack, browser: Browser):
    resident = vietnam.resident(3)  # born 1 March 1987
    number = file_at(resident.citizen_id, FILED)
    page = open_page(browser, vietnam.url + "vi/", "vi", touch=True)
    my_petitions(vietnam, page, card=3)
    expect(page.locator(f'[data-petition="{number}"] [data-step="received"]')).to_have_text(
        "24/11/2026 20:57 — " + status_word("received", "vi")
    )

    # e-ID: the card's date of birth, Gregorian. (A ward's is read from the population
    # register, not typed: no date field is left on the e-ID screens.)
    tap(page, page.locator("[data-action=home]"))  # home, the card still in
    expect(page.locator("[data-summary]")).to_be_visible()
    tap(page, page.locator('a[href$="/eid/"]'))
    expect(page.locator("[data-card-data]")).to_contain_text("01-03-1987")
    assert "2530" not in page.locator("[data-card-data]").inner_text()
    assert page.locator("input[name$=dob]").count() == 0
