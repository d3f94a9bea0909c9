"""Issue 14 at the kiosk, in Chromium by taps, with the real card through pcscd: booking and
cancelling a check-up (the SMS sink gets both texts), a notice published from the dashboard
on the home screen (live, with the broker frozen, after a restart offline, gone when it
ends, not shown in a building it does not name), and seed 002's correction channels.

``DCS_SCREENS=1`` also saves the screens into docs/screens/.
"""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect

from device.config import KioskConfig
from device.kiosk.server import KioskServer
from device.station import build_station
from devtools.cardstack import LocalPcscd
from devtools.clinic import ClinicProcess
from sync_server.db import database
from sync_server.notices.models import PublicNotice
from sync_server.records.models import InsuranceAccount
from sync_server.sms.models import SentSms
from tests.kiosk_browser import KioskStack, chromium, open_page, wait_for
from tests.local_form import wall_clock
from tests.operator_fixtures import csrf_token
from tests.test_kiosk_as_used import tap as tap_here

SCREENS = Path(__file__).resolve().parents[1] / "docs" / "screens"


def tap(page: Page, target) -> None:  # type: ignore[no-untyped-def]
    """Scroll ``target`` onto the screen as a finger would, then tap it."""
    target.scroll_into_view_if_needed()
    tap_here(page, target)


def shot(page: Page, name: str) -> None:
    """Keep the screen in docs/screens/ when asked to (``DCS_SCREENS=1``)."""
    if os.environ.get("DCS_SCREENS"):
        page.screenshot(path=SCREENS / f"{name}.png")


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with chromium() as (_, browser):
        yield browser


@pytest.fixture
def clinic() -> Iterator[ClinicProcess]:
    clinic = ClinicProcess(token="clinic-t0ken").start()
    yield clinic
    clinic.stop()


@pytest.fixture
def stack(tmp_path: Path, pcscd: LocalPcscd, clinic: ClinicProcess) -> Iterator[KioskStack]:
    kiosk = KioskStack(
        tmp_path,
        pcscd,
        kiosk_config=KioskConfig(port=0),
        server_config={"CLINIC_URL": clinic.url, "CLINIC_TOKEN": "clinic-t0ken"},
    )
    try:
        yield kiosk.start()
    finally:
        kiosk.stop()


def texts_to(phone: str) -> list[str]:
    with database.connection_context():
        return [r.text for r in SentSms.select().where(SentSms.to == phone).order_by(SentSms.id)]


def test_a_resident_books_and_cancels_a_check_up(stack: KioskStack, browser: Browser):
    resident = stack.resident(0)
    with database.connection_context():
        phone = InsuranceAccount.get(InsuranceAccount.citizen == resident.citizen_id).phone
    page = open_page(browser, stack.url + "en/", "en", touch=True)
    stack.insert(0)
    expect(page.locator("[data-summary]")).to_be_visible(timeout=30_000)
    tap(page, page.locator("[data-service='checkup.start']"))
    first = page.locator("[data-slot]").first
    expect(first).to_be_visible(timeout=15_000)
    shot(page, "checkup-slots-en")
    slot = first.get_attribute("data-slot")
    tap(page, first)

    booked = page.locator("[data-booked-when]")
    expect(booked).to_be_visible(timeout=15_000)
    expect(page.locator("[data-sms]")).to_contain_text(f"{phone[:3]}-XXX-{phone[-4:]}")
    shot(page, "checkup-booked-en")
    video = page.locator("[data-video]").inner_text()
    # "DD-MM-YYYY BE HH:MM–HH:MM": the clinic's local time, the deployment's calendar.
    local = booked.inner_text()
    assert " BE " in local
    sms = wait_for(lambda: texts_to(phone), "the booking SMS")
    assert video in sms[0] and "Join the video call" in sms[0]
    assert f"booked for {local.split('–')[0]} (" in sms[0]  # the same local time in the SMS

    tap(page, page.locator("[data-action=my-checkup]"))
    cancel = page.locator("[data-action=cancel-checkup]")
    expect(cancel).to_be_visible(timeout=15_000)
    shot(page, "checkup-mine-en")
    tap(page, cancel)
    expect(page.locator("[data-notice=checkup-cancelled]")).to_be_visible(timeout=15_000)
    expect(page.locator(f"[data-slot='{slot}']")).to_be_visible()  # free again
    shot(page, "checkup-cancelled-en")
    sms = wait_for(lambda: len(texts_to(phone)) == 2 and texts_to(phone), "the cancel SMS")
    assert "cancelled" in sms[1] and video not in sms[1]


def test_check_ups_need_the_card(stack: KioskStack, browser: Browser):
    page = open_page(browser, stack.url + "vi/", "vi", touch=True)
    tap(page, page.locator("[data-service=checkup]"))
    expect(page.locator("[data-notice=checkup-needs-card]")).to_be_visible()
    expect(page.locator("[data-slot]")).to_have_count(0)


def publish(stack: KioskStack, client, buildings: str, title: str, minutes: int = 120):  # type: ignore[no-untyped-def]
    ends = wall_clock(datetime.now(UTC) + timedelta(minutes=minutes))
    token = csrf_token(client.get("/dashboard/notices").text)
    fields = {"csrf_token": token, "scope": "buildings", "buildings": buildings, "ends_at": ends}
    for lang in ("th", "vi", "en"):
        fields[f"title_{lang}"] = f"{title} [{lang}]"
        fields[f"body_{lang}"] = f"The water is off in lift lobby B from 9:00 to 12:00 [{lang}]"
    assert client.post("/dashboard/notices", data=fields).status_code == 303
    with database.connection_context():
        return PublicNotice.select().order_by(PublicNotice.id.desc()).get()


def test_a_notice_from_the_dashboard_shows_on_the_kiosk_home_offline_too(
    stack: KioskStack, browser: Browser, login_client
):
    page = open_page(browser, stack.url + "en/", "en", touch=True)
    expect(page.locator("[data-notices]")).to_be_hidden()
    ops = login_client("operations", stack.app)
    elsewhere = publish(stack, ops, "building-elsewhere", "Not for this building")
    ours = publish(stack, ops, stack.building, "Water cut")

    # Live: the open home screen reloads when the notice arrives.
    notice = page.locator(f"[data-notice-id='{ours.notice_id}']")
    expect(notice).to_be_visible(timeout=15_000)
    expect(notice).to_contain_text("Water cut [en]")
    assert page.locator(f"[data-notice-id='{elsewhere.notice_id}']").count() == 0
    assert elsewhere.notice_id not in {n.notice_id for n in stack.station.notices.current()}
    shot(page, "notice-home-en")

    # The broker frozen (SIGSTOP by pid) after delivery: the notice is the station's own.
    pid = stack.broker.process.pid
    os.kill(pid, signal.SIGSTOP)
    try:
        page.goto(stack.url + "th/")
        expect(page.locator(f"[data-notice-id='{ours.notice_id}']")).to_contain_text("[th]")
    finally:
        os.kill(pid, signal.SIGCONT)

    # The network gone and the station restarted: read back from its store.
    stack.stop_broker()
    config = stack.station.config
    stack.kiosk.stop()
    stack.station.close()
    stack.station = build_station(config, devices=True).start()
    stack.kiosk = KioskServer(stack.station, stack.kiosk_config).start()
    page.goto(stack.url + "vi/")
    expect(page.locator("[data-net=offline]")).to_be_visible()
    expect(page.locator(f"[data-notice-id='{ours.notice_id}']")).to_contain_text("[vi]")
    shot(page, "notice-home-offline-vi")

    # It ends: by the station's own clock, with no network, the home screen drops it.
    ends_at = datetime.fromisoformat(str(ours.ends_at)).replace(tzinfo=UTC)
    stack.station.notices.clock = lambda: ends_at + timedelta(seconds=1)
    expect(page.locator(f"[data-notice-id='{ours.notice_id}']")).to_have_count(0, timeout=15_000)
    expect(page.locator("[data-notices]")).to_be_hidden()


@pytest.mark.parametrize(
    ("lang", "hotline"),
    [("th", "โทรแจ้งสายด่วนตำรวจ 0693187111"), ("vi", "0693187111"), ("en", "0693187111")],
)
def test_the_correction_request_lists_the_other_channels(
    stack: KioskStack, browser: Browser, lang: str, hotline: str
):
    page = open_page(browser, stack.url + f"{lang}/petition/", lang, touch=True)
    channels = page.locator("[data-channels]")
    expect(channels).to_be_visible()
    for channel in ("ward_police", "hotline", "eid_app"):
        expect(channels.locator(f"[data-channel={channel}]")).to_be_visible()
    expect(channels.locator("[data-channel=hotline]")).to_contain_text(hotline)
    expect(channels.locator("[data-channel=eid_app]")).to_contain_text("VNeID")
    shot(page, f"petition-correction-channels-{lang}")
