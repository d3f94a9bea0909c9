"""How a notice reaches the broker: signed, retained, expiring when the notice ends.

The publisher connects as ``dcs-commands`` (the identity that may write ``dcs/v1/notices/#``),
publishes each topic at QoS 1 with ``retain`` and the MQTT 5 message expiry set to the
seconds left until the notice ends (the broker then forgets it by itself), waits for every
PUBACK and disconnects.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from contract.transport import COMMANDS, QOS, BrokerSettings, new_client, server_client_id

#: ``publish([(topic, payload, expiry_s)])``: retained publishes; raises when not confirmed.
Publisher = Callable[[list[tuple[str, bytes, int]]], None]


class PublishError(RuntimeError):
    """The broker did not confirm a notice (down, frozen, refused)."""


def mqtt_publisher(broker: BrokerSettings, timeout_s: float = 5.0) -> Publisher:
    """A publisher over one short MQTT session (see the module docstring)."""

    def publish(messages: list[tuple[str, bytes, int]]) -> None:
        client = new_client(server_client_id(COMMANDS), broker)
        try:
            client.connect(broker.host, broker.port)
        except OSError as exc:
            raise PublishError(f"broker unreachable: {type(exc).__name__}") from None
        client.loop_start()
        try:
            infos = []
            for topic, payload, expiry_s in messages:
                properties = Properties(PacketTypes.PUBLISH)
                properties.MessageExpiryInterval = max(1, int(expiry_s))
                infos.append(
                    client.publish(topic, payload, qos=QOS, retain=True, properties=properties)
                )
            for info in infos:
                info.wait_for_publish(timeout_s)
                if not info.is_published():
                    raise PublishError("the broker did not confirm the notice in time")
        except (RuntimeError, ValueError) as exc:
            raise PublishError(str(exc)) from None
        finally:
            client.disconnect()
            client.loop_stop()

    return publish


def clear_publisher(broker: BrokerSettings) -> Callable[[list[str]], None]:
    """Clears retained topics (an empty retained payload), for tests and the demo's reset."""

    def clear(topics: list[str]) -> None:
        client = new_client(server_client_id(COMMANDS), broker)
        client.connect(broker.host, broker.port)
        client.loop_start()
        try:
            for topic in topics:
                client.publish(topic, b"", qos=QOS, retain=True).wait_for_publish(5.0)
        finally:
            client.disconnect()
            client.loop_stop()

    return clear


def app_publisher(config: Mapping[str, Any]) -> Publisher:
    """The publisher of a server config."""
    from sync_server.config import broker_settings

    return mqtt_publisher(broker_settings(dict(config)))


def app_signing_key(config: Mapping[str, Any], instance_path: str) -> Ed25519PrivateKey:
    """The server's Ed25519 key (the one that signs replicas and commands)."""
    from sync_server.replicas.keys import load_or_create_signing_key, signing_key_path

    return load_or_create_signing_key(signing_key_path(dict(config), instance_path))
