"""Attacks on the kiosk's local web app from a web page, not from the touchscreen.

The attacker controls a web page the station's browser (or any browser that can reach the
kiosk) loads, and a DNS name they re-point at 127.0.0.1 (DNS rebinding): the browser then
treats ``http://evil.example:8080/`` as the attacker's own origin and lets their script
read the kiosk's answers. They try to read the current visit's token from ``/events``, the
stream every page opens, and with it post the visit's forms, keep it alive, end it or fetch
the card's photo; and they try a display-mode link whose ``next`` leaves the kiosk.
"""

from __future__ import annotations

import http.client
import json

import pytest

from device.config import KioskConfig
from device.kiosk import create_kiosk_app, kiosk_state
from device.kiosk.server import KioskServer


@pytest.fixture
def station(station_factory):
    return station_factory("st-a", start=False)


def status_for_host(port: int, host: str, path: str = "/") -> int:
    """The status the kiosk on ``port`` answers to a GET with this Host header."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        connection.putrequest("GET", path, skip_host=True)
        connection.putheader("Host", host)
        connection.endheaders()
        return connection.getresponse().status
    finally:
        connection.close()


def test_the_kiosk_answers_only_its_loopback_names_on_its_port(station):
    with KioskServer(station, KioskConfig(port=0)) as server:
        port = int(server.url.rsplit(":", 1)[1].strip("/"))
        for host in (f"127.0.0.1:{port}", f"localhost:{port}", f"LOCALHOST:{port}"):
            assert status_for_host(port, host) == 302, host
        for host in (
            f"evil.example:{port}",
            "evil.example",
            f"localhost.evil.example:{port}",
            f"127.0.0.1.nip.io:{port}",
            f"localhost:{port + 1}",
            "localhost",
            "",
            f"localhost:{port}@evil.example",
        ):
            assert status_for_host(port, host) == 400, host
            assert status_for_host(port, host, "/events") == 400, host


def test_the_allowed_names_are_configurable_and_the_bind_address_always_counts(station):
    config = KioskConfig(port=0, allowed_hosts=["kiosk.local"])
    with KioskServer(station, config) as server:
        port = int(server.url.rsplit(":", 1)[1].strip("/"))
        assert status_for_host(port, f"kiosk.local:{port}") == 302
        assert status_for_host(port, f"127.0.0.1:{port}") == 302
        assert status_for_host(port, f"localhost:{port}") == 400


def first_visit_event(app) -> dict:
    """The ``visit`` event a page gets first when it opens ``/events``."""
    response = app.test_client().get("/events", buffered=False)
    try:
        for chunk in response.response:
            for block in chunk.decode().split("\n\n"):
                if block.startswith("event: visit\n"):
                    return json.loads(block.split("data: ", 1)[1])
    finally:
        response.close()
    raise AssertionError("no visit event on the stream")


def test_the_event_stream_never_hands_out_the_visit_token(station):
    app = create_kiosk_app(station, KioskConfig())
    visit = kiosk_state(app).open_visit()

    event = first_visit_event(app)
    assert visit.token not in json.dumps(event)
    assert event["visit"] == visit.public_id and event["state"] == "open"

    # What the stream does say authorizes nothing.
    client = app.test_client()
    assert client.post("/visit/extend", data={"visit": event["visit"]}).status_code == 409
    client.post("/visit/end", data={"visit": event["visit"]})
    assert kiosk_state(app).visit is visit and visit.state == "open"
    assert client.get(f"/photo/{event['visit']}").status_code == 302  # home: not this visit


def test_the_visits_own_page_still_knows_its_token_and_its_stream_name(station):
    app = create_kiosk_app(station, KioskConfig())
    visit = kiosk_state(app).open_visit()
    page = app.test_client().get("/en/track/").text
    assert f'data-visit="{visit.token}"' in page
    assert f'data-visit-id="{visit.public_id}"' in page


@pytest.mark.parametrize(
    "raw_next",
    [
        "//evil.example",
        "/\\evil.example",
        "/%5Cevil.example",
        "/%09/evil.example",
        "https://evil.example",
    ],
)
def test_the_display_switch_never_redirects_off_the_kiosk(station, raw_next):
    app = create_kiosk_app(station, KioskConfig())
    answer = app.test_client().get(f"/en/display/large?next={raw_next}")
    assert answer.status_code == 302
    assert answer.headers["Location"] == "/en/"
