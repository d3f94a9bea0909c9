"""The ``refresh replica`` and ``wipe replica`` commands, for the dashboard and the CLI.

Both change the server's side first (a wipe suspends the station's replica, so it is not
sent again; a refresh lifts that and forgets what was sent) and then send the contract's
:class:`contract.Command` to the station over MQTT at QoS 1. A station that is offline
receives it from its persistent session when it reconnects, and ignores it after
``expires_at``. The station answers on ``cmd/result`` (``done`` / ``failed`` / ``expired``).

Every command is signed with the server's Ed25519 key (the replica signing key, which the
stations already trust): a station acts on nothing the broker or a web front could forge
(``contract/command_seal.py``).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import timedelta

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from contract import Channel, Command, encode, station_topic
from contract.command_seal import sign_command
from contract.transport import COMMANDS, QOS, BrokerSettings, new_client, server_client_id
from sync_server.audit import audit
from sync_server.db import database, utc_now, write_transaction
from sync_server.replicas.models import StationReplica

#: ``publish(topic, payload)``: how a command leaves the server (default: a short MQTT session).
Publisher = Callable[[str, bytes], None]

DEFAULT_TTL = timedelta(hours=24)


class ReplicaCommandError(LookupError):
    """The station is not enrolled for a replica."""


def mqtt_publisher(broker: BrokerSettings, timeout_s: float = 10.0) -> Publisher:
    """A publisher that connects, publishes at QoS 1, waits for the PUBACK and disconnects.

    It connects as ``dcs-commands``, the one identity allowed to publish commands: with TLS
    the broker forces the client id to the certificate's name anyway.
    """

    def publish(topic: str, payload: bytes) -> None:
        client = new_client(server_client_id(COMMANDS), broker)
        client.connect(broker.host, broker.port)
        client.loop_start()
        try:
            client.publish(topic, payload, qos=QOS).wait_for_publish(timeout_s)
        finally:
            client.disconnect()
            client.loop_stop()

    return publish


def _default_publisher() -> Publisher:
    from flask import current_app

    from sync_server.config import broker_settings

    return mqtt_publisher(broker_settings(current_app.config))


def _default_signing_key() -> Ed25519PrivateKey:
    from flask import current_app

    from sync_server.replicas.keys import load_or_create_signing_key, signing_key_path

    return load_or_create_signing_key(
        signing_key_path(current_app.config, current_app.instance_path)
    )


def _default_ttl() -> timedelta:
    try:
        from flask import current_app

        return timedelta(seconds=float(current_app.config["REPLICA_COMMAND_TTL_S"]))
    except (RuntimeError, KeyError):  # outside an app context
        return DEFAULT_TTL


def send_command(
    station_id: str,
    name: str,
    *,
    args: dict | None = None,
    ttl: timedelta | None = None,
    publish: Publisher | None = None,
    actor: str = "server",
    before_send: Callable[[Command], None] | None = None,
    signing_key: Ed25519PrivateKey | None = None,
) -> Command:
    """Sign a contract command, send it to one station and note it in the audit trail.

    ``before_send`` sees the command before it leaves (the dashboard records it as pending
    first, so a result that comes back at once always finds its record). ``signing_key``
    defaults to the app's replica signing key.
    """
    now = utc_now()
    unsigned = Command(
        command_id=str(uuid.uuid4()),
        station_id=station_id,
        name=name,
        args=args or {},
        issued_at=now,
        expires_at=now + (ttl or _default_ttl()),
    )
    command = sign_command(unsigned, signing_key or _default_signing_key())
    if before_send is not None:
        before_send(command)
    (publish or _default_publisher())(station_topic(station_id, Channel.COMMAND), encode(command))
    with write_transaction(database.obj):
        audit(actor, f"command.{name}", station_id, "sent")
    return command


def _set_state(station_id: str, *, suspended: bool) -> None:
    with write_transaction(database.obj):
        changed = (
            StationReplica.update(suspended=suspended, sent_cursor=None)
            .where(StationReplica.station_id == station_id)
            .execute()
        )
    if not changed:
        raise ReplicaCommandError(f"station {station_id} is not enrolled for a replica")


def request_replica_refresh(
    station_id: str,
    *,
    ttl: timedelta | None = None,
    publish: Publisher | None = None,
    actor: str = "server",
    before_send: Callable[[Command], None] | None = None,
    signing_key: Ed25519PrivateKey | None = None,
) -> Command:
    """Make the station fetch its whole replica again (and lift a wipe's suspension)."""
    _set_state(station_id, suspended=False)
    return send_command(
        station_id,
        "refresh_replica",
        ttl=ttl,
        publish=publish,
        actor=actor,
        before_send=before_send,
        signing_key=signing_key,
    )


def wipe_replica(
    station_id: str,
    *,
    ttl: timedelta | None = None,
    publish: Publisher | None = None,
    actor: str = "server",
    before_send: Callable[[Command], None] | None = None,
    signing_key: Ed25519PrivateKey | None = None,
) -> Command:
    """Make the station delete its replica; the server sends it none until a refresh."""
    _set_state(station_id, suspended=True)
    return send_command(
        station_id,
        "wipe_replica",
        ttl=ttl,
        publish=publish,
        actor=actor,
        before_send=before_send,
        signing_key=signing_key,
    )
