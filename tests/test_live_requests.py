"""Live requests when the network lies (issue 12 #5), without a browser.

A frozen broker (SIGSTOP by pid) keeps its TCP connections open, so nothing fails fast: the
station must notice by its MQTT keepalive, end every wait at once when it does, and never
send a request again after the reconnect; the server must refuse a request that the network
held until nobody waited for it (no code texted minutes later).
"""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta

import pytest

from contract import Channel, ServiceRequest
from contract.transport import REQUEST_QOS
from device.errors import LookupTimeoutError, ServerUnavailableError
from device.kiosk.services import ServiceClient
from devtools.broker import LocalBroker
from sync_server.audit.models import AuditEvent
from sync_server.kiosk_services.handlers import KioskServices
from sync_server.otp import service_from_config
from sync_server.otp.models import OtpCode
from sync_server.sms import SinkGateway
from sync_server.sms.models import SentSms
from sync_server.tracking.service import TrackingLimits
from tests.kiosk_browser import wait_for

STATION = "st-a"
PHONE = "0812345678"


@contextmanager
def frozen(broker: LocalBroker) -> Iterator[None]:
    """Mosquitto stopped dead (SIGSTOP by pid), then let go again (SIGCONT)."""
    assert broker.process is not None
    os.kill(broker.process.pid, signal.SIGSTOP)
    try:
        yield
    finally:
        os.kill(broker.process.pid, signal.SIGCONT)


class Clock:
    """The server's clock, moved by hand."""

    def __init__(self) -> None:
        self.now = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


def services_at(server_app, clock: Clock, max_age_s: float = 15.0) -> KioskServices:
    otp = service_from_config(server_app.config, SinkGateway())
    return KioskServices(
        otp, TrackingLimits.from_config(server_app.config), max_age_s=max_age_s, clock=clock
    )


def code_request(sent_at: datetime | None) -> ServiceRequest:
    return ServiceRequest(
        station_id=STATION, action="otp.send", purpose="petition", phone=PHONE, sent_at=sent_at
    )


def test_a_code_request_held_longer_than_the_max_age_is_refused_and_texts_nobody(server_app):
    clock = Clock()
    services = services_at(server_app, clock, max_age_s=15.0)

    held = services.handle(STATION, code_request(clock.now - timedelta(seconds=16)))
    assert (held.status, held.reason) == ("refused", "stale_request")
    assert OtpCode.select().count() == 0 and SentSms.select().count() == 0
    [event] = AuditEvent.select().where(AuditEvent.outcome == "stale")
    assert (event.actor, event.action) == (f"station:{STATION}", "kiosk.otp.send")

    # Within the age (clock margin included), and from an older station without sent_at: sent.
    assert services.handle(STATION, code_request(clock.now - timedelta(seconds=14))).status == "ok"
    assert services.handle(STATION, code_request(None)).status == "ok"
    assert SentSms.select().count() == 2


def test_the_max_age_comes_from_the_server_config(server_app):
    server_app.config["KIOSK_REQUEST_MAX_AGE_S"] = 3
    services = KioskServices.from_config(server_app.config)
    assert services.max_age == timedelta(seconds=3)


def test_requests_go_once_or_never_and_expire_with_the_kiosk_timeout(station_factory):
    station = station_factory(lookup_timeout_s=2.5)
    wait_for(lambda: station.sync.link.connected, "the station to connect")
    sent = []
    link = station.sync.link
    publish = link.publish

    def spy(channel, payload, **kwargs):  # type: ignore[no-untyped-def]
        if channel is Channel.SERVICE:  # heartbeats go out meanwhile
            sent.append((channel, kwargs))
        return publish(channel, payload, **kwargs)

    link.publish = spy  # type: ignore[method-assign]
    client = ServiceClient(link, timeout_s=2.5)
    with pytest.raises(LookupTimeoutError):  # no kiosk-services worker runs here
        client.ask("otp.send", purpose="petition", phone=PHONE)
    [(channel, kwargs)] = sent
    assert channel is Channel.SERVICE and kwargs["qos"] == REQUEST_QOS == 0
    assert kwargs["properties"].MessageExpiryInterval == 3


def test_a_frozen_broker_is_noticed_by_keepalive_and_ends_the_wait_at_once(
    station_factory, broker: LocalBroker
):
    # A timeout far longer than any keepalive: the answer must come from the lost link.
    station = station_factory(lookup_timeout_s=600.0, keepalive_s=2)
    link = station.sync.link
    wait_for(lambda: link.connected, "the station to connect")
    lost = threading.Event()
    link.on_disconnected(lost.set)
    client = ServiceClient(link, timeout_s=600.0)
    outcome: list[BaseException] = []

    def ask() -> None:
        try:
            client.ask("otp.send", purpose="petition", phone=PHONE)
        except BaseException as exc:  # handed to the test thread
            outcome.append(exc)

    with frozen(broker):
        started = time.monotonic()
        asking = threading.Thread(target=ask)
        asking.start()
        assert lost.wait(60), "the frozen broker was never noticed"
        noticed_s = time.monotonic() - started
        asking.join(60)
        assert not asking.is_alive(), "the request kept waiting after the link was lost"
    [error] = outcome
    assert isinstance(error, ServerUnavailableError)
    assert not link.connected
    print(f"\nfrozen broker noticed after {noticed_s:.1f} s with keepalive 2 s")
    wait_for(lambda: link.connected, "the station to reconnect")
