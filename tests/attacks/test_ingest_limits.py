"""Attacks on the ingest path by a station's credential (a stolen or tampered kiosk).

The attacker publishes payloads far over the contract's 64 KiB limit, up to what the broker
used to accept (256 KiB a packet), on the station's own topics, to make the server buffer
them (the ingest inbox holds 20,000 messages, the lookup queue 1,000) and spend time
decoding them until it runs out of memory.
"""

from __future__ import annotations

import hashlib
import threading
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest

from contract import MAX_PAYLOAD_BYTES, Channel, encode, station_topic
from provisioning.broker import MAX_PACKET_BYTES, BrokerLimits, mosquitto_conf
from provisioning.broker_tls import mosquitto_tls_conf
from sync_server import broker_settings
from sync_server.db import database
from sync_server.ingest.lookup_connection import LookupConnection
from sync_server.ingest.models import AppliedTransaction, RejectedMessage
from sync_server.ingest.worker import IngestWorker
from tests.helpers import wait_until
from tests.raw_client import RawClient
from tests.test_ingest_faults import petition

TX_TOPIC = station_topic("st-a", Channel.TX)
LOOKUP_TOPIC = station_topic("st-a", Channel.LOOKUP)


@pytest.fixture
def raw(broker):
    client = RawClient(broker, "st-a")
    yield client
    client.close()


def test_the_generated_broker_configs_limit_packets_to_the_contract():
    expected = f"max_packet_size {MAX_PAYLOAD_BYTES + 1024}"
    assert MAX_PACKET_BYTES == MAX_PAYLOAD_BYTES + 1024
    assert expected in mosquitto_conf(Path("/srv/broker"), 1883, BrokerLimits()).splitlines()
    tls = mosquitto_tls_conf(Path("/srv/broker"), "127.0.0.1", 8883, BrokerLimits())
    assert expected in tls.splitlines()


def test_the_broker_drops_a_packet_over_the_contract_and_the_server_never_sees_it(
    broker, server_app, ingest, raw
):
    dropped = threading.Event()
    raw.client.on_disconnect = lambda *args: dropped.set()
    oversized = b'{"v": 1}' + b" " * (128 * 1024)  # under the old 256 KiB limit
    raw.client.publish(TX_TOPIC, oversized, qos=0)
    wait_until(dropped.is_set, "the broker to disconnect the sender of a too-large packet")

    good = RawClient(broker, "st-a", client_id="raw-st-a-again")
    try:
        tx = petition(serial=7)
        assert good.publish(TX_TOPIC, encode(tx)).is_failure is False
        wait_until(
            lambda: AppliedTransaction.get_or_none(AppliedTransaction.tx_id == tx.tx_id),
            "a good transaction after the dropped one",
        )
    finally:
        good.close()
    assert RejectedMessage.select().count() == 0  # nothing of it reached the worker


@pytest.mark.parametrize("topic", [TX_TOPIC, LOOKUP_TOPIC], ids=["tx", "lookup"])
def test_an_oversized_payload_is_refused_on_arrival_and_never_queued(
    server_app, broker, monkeypatch, topic
):
    worker = IngestWorker(database.obj, broker_settings(server_app.config))  # not connected
    looked_up: list[mqtt.MQTTMessage] = []
    monkeypatch.setattr(worker.lookups, "submit", looked_up.append)
    message = mqtt.MQTTMessage(topic=topic.encode())
    message.payload = b'{"v": 1}' + b" " * MAX_PAYLOAD_BYTES

    worker._on_message(None, None, message)  # paho's network thread calls this

    assert looked_up == []
    queued = []
    while not worker._inbox.empty():
        queued.append(worker._inbox.get_nowait())
    assert queued, "the refusal is handed to the apply thread to record"
    assert all(len(getattr(item, "payload", b"")) <= MAX_PAYLOAD_BYTES for item in queued)


@pytest.mark.parametrize("topic", [TX_TOPIC, LOOKUP_TOPIC], ids=["tx", "lookup"])
def test_an_oversized_payload_within_the_packet_limit_is_recorded_by_size_and_hash(
    server_app, ingest, raw, topic
):
    payload = b'{"v": 1}' + b" " * (MAX_PAYLOAD_BYTES + 100)
    assert len(payload) < MAX_PACKET_BYTES - 200  # the broker lets it through
    assert raw.publish(topic, payload).is_failure is False
    wait_until(lambda: RejectedMessage.select().count() == 1, "the rejection on record")
    [record] = RejectedMessage.select()
    assert record.topic == topic and record.topic_station_id == "st-a"
    assert f"exceeds the {MAX_PAYLOAD_BYTES}-byte limit" in record.reason
    assert record.size == len(payload)
    assert record.payload_sha256 == hashlib.sha256(payload).hexdigest()
    assert ingest.rejected == 1


def test_the_lookup_process_refuses_an_oversized_request_on_arrival(server_app):
    """``dcs-server lookup`` (its own connection, no ingest): the request is refused on the
    network thread, queued as size and hash only, and recorded by an answering thread."""
    records: list[tuple] = []
    connection = LookupConnection(
        database.obj,
        broker_settings(server_app.config),
        worker_id="1",
        record=lambda *refusal: records.append(refusal),
    )
    message = mqtt.MQTTMessage(topic=LOOKUP_TOPIC.encode())
    message.payload = b'{"v": 1}' + b" " * MAX_PAYLOAD_BYTES

    connection._on_message(None, None, message)  # paho's network thread calls this

    queued = list(connection.responder._requests.queue)
    assert len(queued) == 1
    assert all(len(getattr(item, "payload", b"")) <= MAX_PAYLOAD_BYTES for _at, item in queued)
    connection.responder.start()
    try:
        wait_until(lambda: records, "the refusal on record")
    finally:
        connection.responder.stop()
    [(topic, station_id, tx_id, reason, size, digest)] = records
    assert (topic, station_id, tx_id) == (LOOKUP_TOPIC, "st-a", None)
    assert f"exceeds the {MAX_PAYLOAD_BYTES}-byte limit" in reason
    assert size == len(message.payload)
    assert digest == hashlib.sha256(message.payload).hexdigest()
