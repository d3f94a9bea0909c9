"""The dashboard in Debian's Chromium: live presence, the offline alarm, a command round trip.

A real station syncs through Mosquitto to the ingest worker; the alarm rules run as they do
in ``dcs-server alarms``; the page follows over server-sent events without reloading.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import timedelta

import pytest
from playwright.sync_api import Browser, Page, expect

from sync_server.dashboard import broker
from sync_server.dashboard.models import Alarm, CommandRecord
from sync_server.dashboard.worker import AlarmWorker
from sync_server.db import database, utc_now
from sync_server.fleet.models import Station
from tests.helpers import wait_until
from tests.operator_fixtures import create_test_operator
from tests.web_browser import headless_chromium, serving
from tests.web_login import login


@pytest.fixture
def live_url(server_app) -> Iterator[str]:
    server_app.config.update(DASHBOARD_POLL_S=0.2, DASHBOARD_STREAM_S=60)
    with serving(server_app) as url:
        yield url


@pytest.fixture
def rules(server_app) -> Iterator[AlarmWorker]:
    config = {"ALARM_OFFLINE_AFTER_S": 0, "ALARM_POLL_S": 0.2}
    with AlarmWorker(database.obj, config) as worker:
        yield worker


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with headless_chromium() as browser:
        yield browser


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1300, "height": 900})
    yield context.new_page()
    context.close()


def test_a_station_going_offline_shows_live_and_raises_an_alarm(
    server_app, ingest, station_factory, live_url, rules, page
):
    station = station_factory()
    wait_until(
        lambda: (s := Station.get_or_none(Station.station_id == "st-a")) and s.presence == "online",
        "the station online",
    )
    login(page, live_url, *create_test_operator("operations"))
    expect(page).to_have_url(re.compile(r"/dashboard/$"))
    row = page.locator('tr[data-station="st-a"]')
    expect(row.locator('[data-field="presence"]')).to_contain_text(re.compile("online", re.I))
    expect(page.locator("#alarm-count [data-field=open]")).to_have_text("0")
    expect(page.locator("#live-state")).to_contain_text(re.compile("live", re.I))

    # A power cut: the TCP connection drops without a DISCONNECT; the broker sends the will.
    station.sync.link._client.loop_stop()
    station.sync.link._client.socket().close()
    expect(row.locator('[data-field="presence"]')).to_contain_text(
        re.compile("offline", re.I), timeout=20_000
    )
    expect(page.locator("#alarm-count [data-field=open]")).to_have_text("1", timeout=20_000)

    page.click("#alarm-count")
    alarm_row = page.locator("table.alarms tr.critical").first
    expect(alarm_row).to_contain_text("st-a")
    expect(alarm_row).to_contain_text(re.compile("offline", re.I))
    alarm_row.locator("button.ack").click()
    expect(page.locator("table.alarms tr.critical").first).not_to_contain_text("—")
    with database.connection_context():
        alarm = Alarm.get(Alarm.station_id == "st-a")
        assert alarm.acknowledged_by is not None and alarm.cleared_at is None


def test_a_remote_command_round_trip_from_the_station_page(
    server_app, ingest, station_factory, live_url, page
):
    station = station_factory()
    wait_until(lambda: Station.get_or_none(Station.station_id == "st-a"), "the station")
    login(page, live_url, *create_test_operator("operations"))
    page.goto(f"{live_url}/dashboard/stations/st-a")
    page.select_option("#command-name", "lock")
    page.click("#command-form button[type=submit]")
    expect(page.locator(".flash.ok")).to_contain_text(re.compile("sent", re.I))
    status = page.locator("#commands tbody tr").first.locator('[data-field="status"]')
    expect(status).to_have_text(
        re.compile("done", re.I), timeout=20_000
    )  # arrives over SSE, no reload
    assert station.service_lock.locked
    page.select_option("#command-name", "unlock")
    page.click("#command-form button[type=submit]")
    expect(page.locator("#commands tbody tr").first.locator('[data-field="status"]')).to_have_text(
        re.compile("done", re.I), timeout=20_000
    )
    assert not station.service_lock.locked
    with database.connection_context():
        assert [c.status for c in CommandRecord.select()] == ["done", "done"]


def test_a_frozen_broker_shows_stale_stations_and_a_red_live_dot(server_app, live_url, page):
    # The broker froze: no will arrived, the row still says "online" with an old heartbeat,
    # and the alarm worker's probe found no answer.
    since = utc_now() - timedelta(minutes=3, seconds=30)
    with database.connection_context():
        Station.create(
            station_id="st-z", presence="online", presence_at=since, last_heartbeat_at=since
        )
        broker.record(False, since)
    login(page, live_url, *create_test_operator("operations"))
    expect(page).to_have_url(re.compile(r"/dashboard/$"))
    presence = page.locator('tr[data-station="st-z"] [data-field="presence"]')
    expect(presence).to_have_class(re.compile(r"\bbad\b"))
    expect(presence).to_contain_text(re.compile("no heartbeat|ไม่มีสัญญาณชีพ", re.I))
    expect(page.locator("#live-state")).to_have_class(re.compile(r"\bdown\b"))
    expect(page.locator("#broker-state")).to_be_visible()
    # The live stream keeps it so once connected (it does not turn the dot green again).
    page.wait_for_timeout(1500)
    expect(page.locator("#live-state")).to_have_class(re.compile(r"\bdown\b"))

    with database.connection_context():  # the broker answers again, beats arrive
        broker.record(True, utc_now())
        Station.update(last_heartbeat_at=utc_now()).where(Station.station_id == "st-z").execute()
    expect(page.locator("#broker-state")).to_be_hidden(timeout=10_000)
    expect(page.locator("#live-state")).not_to_have_class(re.compile(r"\bdown\b"))
    expect(presence).to_have_class(re.compile(r"\bgood\b"))
