"""How both sides connect to the broker: MQTT 5, persistent sessions, QoS 1.

Kept beside the schemas because the delivery guarantees in ``docs/contract.md`` depend on
these settings as much as on the messages.
"""

from __future__ import annotations

import contextlib
import math
import socket
import ssl
from dataclasses import dataclass
from pathlib import Path

import paho.mqtt.client as mqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

QOS = 1
KEEPALIVE_S = 30
SESSION_EXPIRY_S = 7 * 24 * 3600  # a station may stay offline a week without losing its acks
#: Reconnect delays of the server's workers (paho doubles from the first to the second).
#: A handful of processes, so no herd to fear: they must be back before the fleet, whose
#: first reconnect waits 0.5 s plus 0-3 s (SyncConfig.reconnect_initial_s and
#: reconnect_spread_s). A worker still backing off when the stations return leaves its
#: shared subscription without a member, and Mosquitto drops what the stations publish
#: there until their ack timeout sends it again (bench/city.py measured a 15 s tail with a
#: 10 s maximum here, and with 1 s one station in ten waiting for its 60 s ack timeout).
SERVER_RECONNECT_MIN_S = 0.1
SERVER_RECONNECT_MAX_S = 0.25
#: Replies to live requests (records, temporary passwords, codes) are worth nothing once the
#: kiosk has given up waiting, and must not sit in the broker for a station that went away:
#: QoS 0 is never queued for a disconnected session (Mosquitto's queue_qos0_messages is off),
#: and the expiry bounds what a broker still holds in flight.
REPLY_QOS = 0
REPLY_EXPIRY_S = 30
#: Live requests (lookups, kiosk services) go at QoS 0 too: a QoS 1 request published on a
#: link that died unnoticed stays in paho's session and is sent again after the reconnect,
#: minutes later, when no kiosk waits for it (a code SMS reaching a resident who has gone).
#: At QoS 0 a request is sent once or never; the kiosk's own timeout covers a lost one.
REQUEST_QOS = 0

#: The server's processes by role. With TLS the broker forces a client's id to its
#: certificate's common name, so a process's client id *is* its identity: ``dcs-ingest-1``.
INGEST, KIOSK, REPLICA, COMMANDS = "ingest", "kiosk", "replica", "commands"
#: ``dcs-server rollouts``: sends update jobs, serves their files, records their progress.
ROLLOUTS = "rollouts"
#: Each ingest worker answers live lookups on a connection of its own (``dcs-lookup-<n>``):
#: on the ingest's connection they queued at the broker behind a fleet's backlog.
LOOKUP = "lookup"


def server_client_id(role: str, worker_id: str | None = None) -> str:
    """The client id (and certificate name) of a server process: ``dcs-<role>[-<worker>]``."""
    return f"dcs-{role}-{worker_id}" if worker_id else f"dcs-{role}"


@dataclass(frozen=True)
class BrokerSettings:
    """Where the broker is and how to authenticate.

    A password (``username``/``password``), or TLS: ``ca_file`` and either one certificate
    (``cert_file``/``key_file``: a station) or ``cert_dir``, the server's directory of one
    certificate per process, ``<client id>.crt.pem`` and ``<client id>.key.pem``. The broker
    takes the identity and the client id from the certificate's common name.
    """

    host: str = "127.0.0.1"
    port: int = 1883
    username: str | None = None
    password: str | None = None
    ca_file: Path | None = None
    cert_file: Path | None = None
    key_file: Path | None = None
    cert_dir: Path | None = None

    def client_certificate(self, client_id: str) -> tuple[Path | None, Path | None]:
        """The certificate and key a client with ``client_id`` presents."""
        if self.cert_dir is None:
            return self.cert_file, self.key_file
        cert, key = self.cert_dir / f"{client_id}.crt.pem", self.cert_dir / f"{client_id}.key.pem"
        if not cert.exists():
            raise FileNotFoundError(
                f"no certificate for {client_id} in {self.cert_dir}: every server process "
                "needs its own (dcs-provision broker config --ingest-workers N ...)"
            )
        return cert, key


def _no_delay(client: mqtt.Client, userdata: object, sock: socket.socket) -> None:
    """Send small packets at once: turn Nagle's algorithm off on every (re)connected socket.

    paho leaves it on. Then a PUBACK or an ack waits for the TCP ACK of the previous packet,
    which the peer delays up to 40 ms: the broker stalls at ``max_inflight_messages`` to the
    ingest worker and a station's window waits for its acks (measured in bench/sync.py).
    Mosquitto does the same on its side with ``set_tcp_nodelay true``.
    """
    # Not a TCP socket (e.g. a WebSocket wrapper): nothing to tune.
    with contextlib.suppress(OSError, AttributeError):
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


def new_client(client_id: str, settings: BrokerSettings) -> mqtt.Client:
    """A paho-mqtt 2 client speaking MQTT 5 with the fleet's settings (not yet connected)."""
    client = mqtt.Client(
        callback_api_version=mqtt.CallbackAPIVersion.VERSION2,
        client_id=client_id,
        protocol=mqtt.MQTTv5,
    )
    client.on_socket_open = _no_delay
    if settings.username is not None:
        client.username_pw_set(settings.username, settings.password)
    if settings.ca_file is not None:
        cert_file, key_file = settings.client_certificate(client_id)
        client.tls_set(
            ca_certs=str(settings.ca_file),
            certfile=str(cert_file) if cert_file else None,
            keyfile=str(key_file) if key_file else None,
            tls_version=ssl.PROTOCOL_TLS_CLIENT,
        )
    return client


def connect_properties(session_expiry_s: int = SESSION_EXPIRY_S) -> Properties:
    """CONNECT properties for a persistent session (used with ``clean_start=False``)."""
    props = Properties(PacketTypes.CONNECT)
    props.SessionExpiryInterval = session_expiry_s
    return props


def request_properties(
    response_topic: str, correlation: bytes, expiry_s: float | None = None
) -> Properties:
    """PUBLISH properties of an MQTT 5 request; ``expiry_s``: how long it is worth anything
    (the requester's timeout), so a broker never hands it on after that."""
    props = Properties(PacketTypes.PUBLISH)
    props.ResponseTopic = response_topic
    props.CorrelationData = correlation
    if expiry_s is not None:
        props.MessageExpiryInterval = max(1, math.ceil(expiry_s))
    return props


def response_properties(correlation: bytes, expiry_s: int = REPLY_EXPIRY_S) -> Properties:
    """PUBLISH properties of an MQTT 5 response: its correlation data and a short expiry."""
    props = Properties(PacketTypes.PUBLISH)
    props.CorrelationData = correlation
    props.MessageExpiryInterval = expiry_s
    return props


def publish_reply(client: mqtt.Client, topic: str, payload: bytes, correlation: bytes) -> None:
    """Answer a live request so that the answer is never kept for later (see REPLY_QOS)."""
    client.publish(topic, payload, qos=REPLY_QOS, properties=response_properties(correlation))
