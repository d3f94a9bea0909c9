"""Bursts and broker failures against the real Mosquitto: nothing lost, nothing twice.

The broker is not the source of truth (docs/MACHINE_NOTES.md): it forgets what it queued when
it crashes and silently drops QoS 1 messages past ``max_queued_messages``. These tests make it
do both, then check that the stations' retries still deliver every transaction exactly once.
"""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime

import pytest

from contract import Channel, Transaction, encode, station_topic
from device.store.ids import new_tx_id, petition_number
from devtools.broker import LocalBroker
from provisioning.broker import BrokerLimits
from sync_server import broker_settings
from sync_server.db import database
from sync_server.ingest.models import AppliedTransaction
from sync_server.ingest.worker import IngestWorker
from tests.helpers import wait_until
from tests.raw_client import RawClient
from tests.test_crash import PHONE, assert_delivered_exactly_once, assert_server_still_serves

#: Far below the burst: the broker has to drop most of what it is asked to queue.
SMALL_QUEUES = BrokerLimits(max_queued_messages=50, max_inflight_messages=5)


@pytest.fixture
def broker_limits() -> BrokerLimits:
    """The limits of this module's broker; a test overrides it by parametrizing it."""
    return BrokerLimits()


@pytest.fixture
def broker(broker_factory, broker_limits: BrokerLimits) -> LocalBroker:
    return broker_factory(limits=broker_limits)


def file_many(station, count: int, chunk: int = 500) -> list[str]:
    """File ``count`` petitions, ``chunk`` per commit (quicker than one fsync each)."""
    numbers: list[str] = []
    while len(numbers) < count:
        with station.store.atomic():
            for _ in range(min(chunk, count - len(numbers))):
                numbers.append(station.file_petition("general_petition", PHONE, {}))
    return numbers


def applied_from(station_id: str) -> int:
    return AppliedTransaction.select().where(AppliedTransaction.station_id == station_id).count()


# --- 4. broker restarted or crashed while thousands of transactions drain ------------------


@pytest.mark.parametrize("how", ["restart", "kill"])
def test_broker_restart_mid_drain_loses_and_duplicates_nothing(
    how, broker, server_app, ingest, station_factory
):
    count = 3000
    station = station_factory(start=False)
    file_many(station, count)
    station.start()

    wait_until(lambda: applied_from("st-a") >= 300, "the drain to be under way")
    if how == "restart":
        broker.restart()  # graceful: sessions and queues saved to its persistence file
    else:
        broker.kill()  # a crash: everything it held in memory is gone
        broker.start()
    assert station.store.outbox.backlog().pending > 0  # it really was mid-drain

    assert_delivered_exactly_once(station, count)
    assert_server_still_serves(station, count)


# --- 5. a burst far bigger than the broker's per-client queue ------------------------------


class PublishSpy:
    """Records the station's transaction publishes, to see when the broker PUBACKed them."""

    def __init__(self, link) -> None:
        self.infos = []
        self._publish = link.publish

    def __call__(self, channel, payload, **kwargs):
        info = self._publish(channel, payload, **kwargs)
        if channel is Channel.TX:
            self.infos.append(info)
        return info

    def all_acked_by_broker(self, count: int) -> bool:
        return len(self.infos) >= count and all(info.is_published() for info in self.infos)


def sentinel_from_st_b() -> Transaction:
    return Transaction(
        tx_id=new_tx_id(),
        station_id="st-b",
        seq=1,
        kind="petition.filed",
        station_time=datetime.now(UTC),
        body={
            "number": petition_number("st-b", 1),
            "service": "general_petition",
            "phone": PHONE,
        },
    )


def received_before_any_retry(broker: LocalBroker) -> int:
    """How many of st-a's transactions reached the server (st-a stopped, so no retries).

    A sentinel from another station is published after them; the broker delivers a client's
    queue in order, so once the sentinel is applied everything the broker kept for the server
    has arrived. It is republished until it gets through, since the broker may drop it too.
    """
    sentinel = sentinel_from_st_b()
    payload = encode(sentinel)
    raw = RawClient(broker, "st-b")
    try:

        def sentinel_applied() -> bool:
            if AppliedTransaction.get_or_none(AppliedTransaction.tx_id == sentinel.tx_id):
                return True
            raw.client.publish(station_topic("st-b", Channel.TX), payload, qos=1)
            return False

        wait_until(sentinel_applied, "the sentinel behind the burst")
    finally:
        raw.close()
    return applied_from("st-a")


@pytest.mark.parametrize("broker_limits", [SMALL_QUEUES], ids=["queue50"])
@pytest.mark.parametrize("server", ["disconnected", "lagging"])
def test_burst_past_the_broker_queue_is_dropped_then_delivered_by_retries(
    server, broker_limits, broker, server_app, sqlite_url, station_factory, monkeypatch, request
):
    burst = 300
    settings = broker_settings(server_app.config)
    # A tiny local inbox: when its apply thread is stuck, the worker stops reading the socket.
    worker = IngestWorker(database.obj, settings, queue_size=5).start()
    request.addfinalizer(worker.stop)
    wait_until(worker.connected.is_set, "the ingest worker to connect")

    # One message per transaction (batch=1, as stations of earlier releases send): the burst
    # must outnumber the broker's queue of 50 messages, which 300 petitions in batches of
    # about a hundred would not.
    station = station_factory(window=burst + 10, batch=1)
    warm_up = station.file_petition("general_petition", PHONE, {})
    wait_until(lambda: station.store.outbox.backlog().pending == 0, f"{warm_up} to be applied")

    lock = None
    if server == "disconnected":
        worker.stop()  # its persistent session stays: the broker queues for it, up to 50
    else:
        # Hold the server database's write lock: the apply thread waits, its inbox fills, the
        # network thread blocks, and the broker's queue for the worker fills up behind it.
        lock = sqlite3.connect(sqlite_url.removeprefix("sqlite:///"), isolation_level=None)
        lock.execute("BEGIN IMMEDIATE")
    try:
        spy = PublishSpy(station.sync.link)
        monkeypatch.setattr(station.sync.link, "publish", spy)
        file_many(station, burst)
        wait_until(lambda: spy.all_acked_by_broker(burst), "the broker to PUBACK the burst")
        station.close()  # no retries while we count what the broker kept
    finally:
        if lock is not None:
            lock.rollback()
            lock.close()

    if server == "disconnected":
        worker = IngestWorker(database.obj, settings, queue_size=5).start()  # same session
        request.addfinalizer(worker.stop)
    received = received_before_any_retry(broker) - 1  # minus the warm-up
    # The broker PUBACKed every one of them, yet the server got only a fraction: dropped.
    assert 0 < received < burst

    # Restart the station: its retries fill the gaps, and what did arrive is not applied twice.
    station = station_factory(start=False, window=burst + 10, batch=1)
    assert station.store.outbox.backlog().pending == burst  # no server ack reached it yet
    station.start()
    assert_delivered_exactly_once(station, burst + 1)
    assert_server_still_serves(station, burst + 1)
