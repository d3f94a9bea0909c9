"""Attacker: whoever can read the broker's queues or its persistence file (a compromised broker
host, a backup of its database). They try to find records, temporary passwords and codes that
the broker kept for a station that was offline when the server answered it.

Replies to live requests are published at QoS 0 with a 30 s message expiry
(``contract.transport.publish_reply``): a disconnected station's persistent session never
queues them. The control case shows a QoS 1 reply *would* have been kept.
"""

from __future__ import annotations

import threading

import paho.mqtt.client as mqtt
from paho.mqtt.subscribeoptions import SubscribeOptions

from contract import Channel, station_topic
from contract.transport import connect_properties, new_client, publish_reply
from devtools.broker import LocalBroker
from provisioning.broker import SERVER_USER
from tests.helpers import wait_until

STATION = "st-a"


class PersistentStation:
    """A station's MQTT session that survives disconnects (clean_start=False)."""

    def __init__(self, broker: LocalBroker) -> None:
        self.broker = broker
        self.received: list[bytes] = []
        self._lock = threading.Lock()
        self.client = self._connect()

    def _connect(self) -> mqtt.Client:
        client = new_client(STATION, self.broker.settings_for(STATION))
        client.on_message = self._on_message
        client.connect(
            self.broker.host,
            self.broker.port,
            clean_start=False,
            properties=connect_properties(),
        )
        client.loop_start()
        wait_until(client.is_connected, "the station to connect")
        return client

    def _on_message(self, client, userdata, message) -> None:  # type: ignore[no-untyped-def]
        with self._lock:
            self.received.append(message.payload)

    def go_offline(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()

    def come_back(self) -> None:
        self.client = self._connect()


def server_client(broker: LocalBroker) -> mqtt.Client:
    client = new_client("dcs-test-replier", broker.settings_for(SERVER_USER))
    client.connect(broker.host, broker.port)
    client.loop_start()
    wait_until(client.is_connected, "the server client to connect")
    return client


def test_a_reply_to_an_offline_station_is_never_kept_by_the_broker(broker):
    reply_topic = station_topic(STATION, Channel.SERVICE_REPLY)
    station = PersistentStation(broker)
    subscribed = threading.Event()
    station.client.on_subscribe = lambda *args: subscribed.set()
    station.client.subscribe(reply_topic, options=SubscribeOptions(qos=1))
    assert subscribed.wait(30)
    station.go_offline()

    server = server_client(broker)
    try:
        publish_reply(server, reply_topic, b"temporary password 4711", b"corr-1")
        # Control: the same answer as a QoS 1 message is queued for the offline session.
        server.publish(reply_topic, b"a queued QoS 1 message", qos=1).wait_for_publish(30)
    finally:
        server.disconnect()
        server.loop_stop()

    station.come_back()
    try:
        wait_until(lambda: station.received, "the queued QoS 1 message")
        # Messages on one topic arrive in order: the reply, had it been kept, came first.
        assert station.received[0] == b"a queued QoS 1 message"
        assert b"temporary password 4711" not in station.received
    finally:
        station.go_offline()


def test_replies_carry_a_short_expiry():
    from contract.transport import REPLY_EXPIRY_S, REPLY_QOS, response_properties

    assert REPLY_QOS == 0
    assert response_properties(b"c").MessageExpiryInterval == REPLY_EXPIRY_S <= 60
