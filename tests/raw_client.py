"""A bare MQTT 5 client that logs in as a station and sends whatever bytes a test wants."""

from __future__ import annotations

import threading

import paho.mqtt.client as mqtt
from paho.mqtt.subscribeoptions import SubscribeOptions

from contract.transport import new_client
from devtools.broker import LocalBroker
from tests.helpers import wait_until


class RawClient:
    """Publishes raw payloads and records PUBACK reason codes and received messages."""

    def __init__(self, broker: LocalBroker, username: str, client_id: str | None = None) -> None:
        settings = broker.settings_for(username)
        self.client = new_client(client_id or f"raw-{username}", settings)
        self.pubacks: dict[int, mqtt.ReasonCode] = {}
        self.subacks: list[list[mqtt.ReasonCode]] = []
        self.messages: list[mqtt.MQTTMessage] = []
        self._lock = threading.Lock()
        self.client.on_publish = self._on_publish
        self.client.on_subscribe = self._on_subscribe
        self.client.on_message = self._on_message
        self.client.connect(broker.host, broker.port)
        self.client.loop_start()
        wait_until(self.client.is_connected, "the raw client to connect")

    def _on_publish(self, client, userdata, mid, reason_code, properties) -> None:
        with self._lock:
            self.pubacks[mid] = reason_code

    def _on_subscribe(self, client, userdata, mid, reason_codes, properties) -> None:
        with self._lock:
            self.subacks.append(list(reason_codes))

    def _on_message(self, client, userdata, message) -> None:
        with self._lock:
            self.messages.append(message)

    def publish(self, topic: str, payload: bytes) -> mqtt.ReasonCode:
        """Publish at QoS 1 and return the broker's PUBACK reason."""
        info = self.client.publish(topic, payload, qos=1)
        wait_until(lambda: info.mid in self.pubacks, "the PUBACK")
        return self.pubacks[info.mid]

    def subscribe(self, topic: str) -> list[mqtt.ReasonCode]:
        """Subscribe at QoS 1 and return the SUBACK reasons."""
        count = len(self.subacks)
        self.client.subscribe(topic, options=SubscribeOptions(qos=1))
        wait_until(lambda: len(self.subacks) > count, "the SUBACK")
        return self.subacks[count]

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()
