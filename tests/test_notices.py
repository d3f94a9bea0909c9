"""Public notices (seed 002) from the dashboard and the API to the stations, over Mosquitto.

Retained, signed, targeted: every station, a district, or named buildings; kept in the
station's store so they show offline and after a restart; gone on time by the station's own
clock; withdrawn by operations. The kiosk's home screen in Chromium is in
tests/test_kiosk_checkups_notices.py.
"""

from __future__ import annotations

import os
import re
import signal
from datetime import UTC, datetime, timedelta
from pathlib import Path

import msgspec
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from contract import encode
from contract.notices import Notice, NoticeText, notice_topics, sign_notice
from device.config import ReplicaConfig
from device.station import Station, build_station
from devtools.broker import LocalBroker
from sync_server import broker_settings
from sync_server.db import database
from sync_server.notices import service
from sync_server.notices.models import PublicNotice
from sync_server.notices.publish import mqtt_publisher
from sync_server.replicas.keys import public_key_text
from tests.api_tokens import bearer
from tests.conftest import SERVER_SIGNING_KEY, station_config
from tests.helpers import wait_until
from tests.local_form import wall_clock
from tests.operator_fixtures import csrf_token

#: (station, district, building): two stations in district-1, one in district-2.
PLACES = {
    "st-a": ("district-1", "building-1"),
    "st-b": ("district-1", "building-2"),
    "st-c": ("district-2", "building-3"),
}


def located(tmp_path: Path, broker: LocalBroker, station_id: str):  # type: ignore[no-untyped-def]
    district, building = PLACES[station_id]
    base = station_config(tmp_path, broker, station_id)
    replica = ReplicaConfig(
        building=building, server_public_key=public_key_text(SERVER_SIGNING_KEY)
    )
    return msgspec.structs.replace(base, district=district, replica=replica)


@pytest.fixture
def stations(tmp_path: Path, broker: LocalBroker):  # type: ignore[no-untyped-def]
    started: list[Station] = []

    def make(station_id: str) -> Station:
        station = build_station(located(tmp_path, broker, station_id)).start()
        started.append(station)
        assert station.sync.link.wait_connected(30)
        return station

    yield make
    for station in started:
        station.close()


def form(**fields: str) -> dict[str, str]:
    texts = {}
    for lang in ("th", "vi", "en"):
        texts[f"title_{lang}"] = f"{fields.pop('title', 'Water cut')} ({lang})"
        texts[f"body_{lang}"] = f"Lift B closed 9-12 ({lang})"
    ends = wall_clock(datetime.now(UTC) + timedelta(hours=2))
    return {"scope": "all", "ends_at": ends, **texts, **fields}


def publish_from_dashboard(client, **fields: str) -> PublicNotice:  # type: ignore[no-untyped-def]
    token = csrf_token(client.get("/dashboard/notices").text)
    answer = client.post("/dashboard/notices", data={"csrf_token": token, **form(**fields)})
    assert answer.status_code == 303, answer.text
    with database.connection_context():
        return PublicNotice.select().order_by(PublicNotice.id.desc()).get()


def showing(station: Station) -> set[str]:
    assert station.notices is not None
    return {notice.notice_id for notice in station.notices.current()}


def test_a_notice_reaches_exactly_the_stations_it_names(server_app, login_client, stations):
    a, b, c = stations("st-a"), stations("st-b"), stations("st-c")
    ops = login_client("operations", server_app)
    building = publish_from_dashboard(ops, scope="buildings", buildings="building-1, building-3")
    district = publish_from_dashboard(ops, scope="district", district="district-1")
    everyone = publish_from_dashboard(ops, scope="all")
    assert building.published_at and district.published_at and everyone.published_at

    # Each station hears the notice for everyone last (one session, in order): by then it
    # has heard whatever else was meant for it.
    for station in (a, b, c):
        wait_until(lambda s=station: everyone.notice_id in showing(s), "the notice for all")
    assert showing(a) == {building.notice_id, district.notice_id, everyone.notice_id}
    assert showing(b) == {district.notice_id, everyone.notice_id}  # building-2 not named
    assert showing(c) == {building.notice_id, everyone.notice_id}  # district-2
    [text] = [n.texts["vi"] for n in a.notices.current() if n.notice_id == district.notice_id]
    assert text.title == "Water cut (vi)"

    page = ops.get("/dashboard/notices?lang=en").text
    assert building.notice_id in page and "showing" in page


def test_a_station_that_connects_later_gets_the_retained_notice_and_keeps_it_offline(
    server_app, login_client, stations, tmp_path, broker
):
    ops = login_client("operations", server_app)
    notice = publish_from_dashboard(ops, scope="buildings", buildings="building-1")
    station = stations("st-a")  # after the publish: the broker hands it the retained copy
    wait_until(lambda: notice.notice_id in showing(station), "the retained notice")

    # Frozen broker (SIGSTOP by pid): the notice is in the store, nothing to ask.
    os.kill(broker.process.pid, signal.SIGSTOP)
    try:
        assert notice.notice_id in showing(station)
    finally:
        os.kill(broker.process.pid, signal.SIGCONT)

    # The broker gone and the station restarted: still there, from the store alone.
    broker.stop()
    station.close()
    again = build_station(located(tmp_path, broker, "st-a")).start()
    try:
        assert not again.sync.link.connected
        assert notice.notice_id in showing(again)
    finally:
        again.close()


def test_a_notice_ends_on_time_by_the_stations_clock_without_the_network(
    server_app, login_client, stations, broker
):
    ops = login_client("operations", server_app)
    notice = publish_from_dashboard(ops)
    station = stations("st-a")
    wait_until(lambda: notice.notice_id in showing(station), "the notice")
    broker.stop()
    board = station.notices
    ends_at = datetime.fromisoformat(str(notice.ends_at)).replace(tzinfo=UTC)
    assert notice.notice_id in {n.notice_id for n in board.current(ends_at - timedelta(seconds=1))}
    assert board.current(ends_at) == []
    assert board.purge(ends_at) == 1 and board.current(ends_at - timedelta(minutes=1)) == []


def test_a_scheduled_notice_shows_from_its_start(server_app, login_client, stations):
    ops = login_client("operations", server_app)
    starts = datetime.now(UTC).replace(second=0, microsecond=0) + timedelta(hours=1)
    notice = publish_from_dashboard(ops, starts_at=wall_clock(starts))
    everyone = publish_from_dashboard(ops)
    station = stations("st-a")
    wait_until(lambda: everyone.notice_id in showing(station), "the second notice")
    assert notice.notice_id not in showing(station)
    assert notice.notice_id in {n.notice_id for n in station.notices.current(starts)}


def test_withdrawing_takes_it_off_the_stations(server_app, login_client, stations):
    ops = login_client("operations", server_app)
    notice = publish_from_dashboard(ops)
    station = stations("st-a")
    wait_until(lambda: notice.notice_id in showing(station), "the notice")
    token = csrf_token(ops.get("/dashboard/notices").text)
    answer = ops.post(f"/dashboard/notices/{notice.notice_id}/withdraw", data={"csrf_token": token})
    assert answer.status_code == 303
    wait_until(lambda: notice.notice_id not in showing(station), "the withdrawal")
    # A copy of the notice as it was (replayed by whoever holds the broker) stays withdrawn.
    with database.connection_context():
        row = PublicNotice.get(PublicNotice.notice_id == notice.notice_id)
    original = sign_notice(
        msgspec.structs.replace(service.message(row), withdrawn=False), SERVER_SIGNING_KEY
    )
    assert station.notices.keep(encode(original)) is not None
    assert notice.notice_id not in showing(station)


def test_a_forged_or_misdirected_notice_is_refused(server_app, stations, broker):
    station = stations("st-c")  # district-2, building-3
    now = datetime.now(UTC)

    def notice(key: Ed25519PrivateKey, **fields: object) -> Notice:
        fields.setdefault("scope", "all")
        plain = Notice(
            notice_id=os.urandom(16).hex(),
            starts_at=now - timedelta(minutes=1),
            ends_at=now + timedelta(hours=1),
            texts={lang: NoticeText(title="Evacuate now") for lang in ("th", "vi", "en")},
            issued_at=now,
            **fields,
        )
        return sign_notice(plain, key)

    forged = notice(Ed25519PrivateKey.generate())
    for_building_1 = notice(SERVER_SIGNING_KEY, scope="buildings", buildings=["building-1"])
    genuine = notice(SERVER_SIGNING_KEY)
    publish = mqtt_publisher(broker_settings(server_app.config))
    topic_c = notice_topics(msgspec.structs.replace(for_building_1, buildings=["building-3"]))[0]
    publish(
        [
            (notice_topics(forged)[0], encode(forged), 600),
            (topic_c, encode(for_building_1), 600),  # copied onto building-3's topic
            (notice_topics(genuine)[0], encode(genuine), 600),
        ]
    )
    wait_until(lambda: genuine.notice_id in showing(station), "the genuine notice")
    assert showing(station) == {genuine.notice_id}


def test_a_notice_the_broker_did_not_confirm_is_kept_and_published_again(
    server_app, login_client, stations, broker
):
    ops = login_client("operations", server_app)
    broker.stop()
    notice = publish_from_dashboard(ops)
    assert notice.published_at is None
    assert "not delivered" in ops.get("/dashboard/notices?lang=en").text
    broker.start()
    station = stations("st-a")
    token = csrf_token(ops.get("/dashboard/notices").text)
    ops.post(f"/dashboard/notices/{notice.notice_id}/publish", data={"csrf_token": token})
    wait_until(lambda: notice.notice_id in showing(station), "the notice published again")


def test_the_api_publishes_and_lists_notices_with_its_scopes(server_app, stations):
    station = stations("st-b")
    client = server_app.test_client()
    body = {
        "target": "district:district-1",
        "minutes": 90,
        "texts": {lang: {"title": f"Fire drill ({lang})"} for lang in ("th", "vi", "en")},
    }
    assert (
        client.post("/api/v1/notices", json=body, headers=bearer("notices:read")).status_code == 403
    )
    created = client.post("/api/v1/notices", json=body, headers=bearer("notices:write"))
    assert created.status_code == 201, created.text
    notice = created.json
    assert notice["published"] and notice["district"] == "district-1"
    wait_until(lambda: notice["notice_id"] in showing(station), "the API's notice")
    listed = client.get("/api/v1/notices", headers=bearer("notices:read")).json["notices"]
    assert [n["notice_id"] for n in listed] == [notice["notice_id"]]
    assert listed[0]["state"] == "current"
    withdrawn = client.post(
        f"/api/v1/notices/{notice['notice_id']}/withdraw", headers=bearer("notices:write")
    )
    assert withdrawn.json["state"] == "withdrawn"
    wait_until(lambda: notice["notice_id"] not in showing(station), "the API's withdrawal")


def test_control_characters_are_refused_with_a_clear_error(server_app, login_client):
    """A NUL (PostgreSQL cannot store it) or an escape sequence in a notice is refused, from
    the API and from the dashboard, and nothing is written."""
    client = server_app.test_client()
    texts = {lang: {"title": "Fire drill"} for lang in ("th", "vi", "en")}
    texts["vi"] = {"title": "Fire\x00drill"}
    body = {"target": "all", "minutes": 5, "texts": texts}
    refused = client.post("/api/v1/notices", json=body, headers=bearer("notices:write"))
    assert refused.status_code == 422 and "title" in refused.text
    ops = login_client("operations", server_app)
    token = csrf_token(ops.get("/dashboard/notices").text)
    typed = {**form(), "title_vi": "Tập huấn phòng cháy", "body_en": "Lift \x1b[2J closed"}
    answer = ops.post("/dashboard/notices?lang=en", data={"csrf_token": token, **typed})
    assert answer.status_code == 422
    assert "no control characters in en" in answer.text
    # The form comes back with what was typed, the field at fault marked.
    assert 'value="Tập huấn phòng cháy"' in answer.text
    assert re.search(r'id="body_en"[^>]*aria-invalid="true"', answer.text)  # where it is
    assert not re.search(r'id="title_en"[^>]*aria-invalid', answer.text)
    assert f'value="{typed["ends_at"]}"' in answer.text
    with database.connection_context():
        assert PublicNotice.select().count() == 0


def test_an_operator_publishes_a_notice_in_the_browser(server_app, make_operator, stations):
    from tests.web_browser import headless_chromium, serving
    from tests.web_login import login

    station = stations("st-b")
    username, password = make_operator("operations")
    ends = wall_clock(datetime.now(UTC) + timedelta(days=1))
    with serving(server_app) as url, headless_chromium() as browser:
        page = browser.new_page(viewport={"width": 1280, "height": 1000}, locale="en-GB")
        login(page, url, username, password)
        page.goto(f"{url}/dashboard/notices?lang=en")
        page.select_option("#scope", "district")
        page.fill("#district", "district-1")
        page.fill("#ends_at", ends)
        for lang, title in (("th", "ปิดน้ำ"), ("vi", "Cắt nước"), ("en", "Water cut")):
            page.fill(f"#title_{lang}", title)
            page.fill(f"#body_{lang}", f"{title}: 9:00-12:00")
        with page.expect_navigation():
            page.click("#notice-form button[type=submit]")
        row = page.locator("tr[data-notice]")
        assert row.get_attribute("data-state") == "current"
        assert "not delivered" not in row.inner_text()
        if os.environ.get("DCS_SCREENS"):
            page.screenshot(
                path=Path(__file__).resolve().parents[1] / "docs/screens/server-notices-en.png",
                full_page=True,
            )
        notice_id = row.get_attribute("data-notice")
    wait_until(lambda: notice_id in showing(station), "the notice from the browser")
