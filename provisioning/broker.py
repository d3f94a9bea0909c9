"""Mosquitto configuration for the fleet: the password file, the ACL, the conf lines.

Anonymous access is off; every station has its own credential and an ACL that confines it to
its own topics, in the right direction only. Every server process has its own identity
(``dcs-ingest-1``, ``dcs-kiosk-1``, ``dcs-replica-1``, ``dcs-commands``) and only the
channels its role needs (:data:`SERVER_ROLE_ACCESS`). The TLS setup
(``provisioning/broker_tls.py``) uses this ACL with client certificates. The password setup
(bench only) keeps one all-seeing ``dcs-server`` account.
Runners that start a local Mosquitto for tests, the bench and the demo are in
``devtools/broker.py``.
"""

from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass
from pathlib import Path

from contract import MAX_PAYLOAD_BYTES, ROOT, Channel
from contract.notices import NOTICES
from contract.topics import fleet_filter
from contract.transport import COMMANDS, INGEST, KIOSK, LOOKUP, REPLICA, ROLLOUTS, server_client_id

#: The password setup's one server account; with TLS only a development broker grants it
#: (the tests' observers), never ``dcs-provision broker config``.
SERVER_USER = "dcs-server"

#: What a PUBLISH packet carries besides its payload: the fixed header (up to 5 bytes), the
#: topic (2 + under 100 bytes for ``dcs/v1/stations/<id>/<channel>``), the packet id (2)
#: and the MQTT 5 properties (a few bytes; none are sent today). 1 KiB leaves room to spare.
MQTT_OVERHEAD_BYTES = 1024
#: The broker's packet limit: the contract's payload limit plus that overhead. A bigger
#: packet is dropped by the broker (which disconnects its sender) and never reaches the
#: server; the ingest worker checks the payload against the contract to the byte.
MAX_PACKET_BYTES = MAX_PAYLOAD_BYTES + MQTT_OVERHEAD_BYTES

#: (channel, access) of a station on its own subtree; "write" = publish, "read" = subscribe.
STATION_ACCESS: tuple[tuple[Channel, str], ...] = (
    (Channel.TX, "write"),
    (Channel.ACK, "read"),
    (Channel.LOOKUP, "write"),
    (Channel.LOOKUP_REPLY, "read"),
    (Channel.PRESENCE, "write"),
    (Channel.TELEMETRY, "write"),
    (Channel.COMMAND, "read"),
    (Channel.COMMAND_RESULT, "write"),
    (Channel.REPLICA_REQUEST, "write"),
    (Channel.REPLICA, "read"),
    (Channel.SERVICE, "write"),
    (Channel.SERVICE_REPLY, "read"),
    (Channel.JOB, "read"),
    (Channel.JOB_PROGRESS, "write"),
    (Channel.FILE_REQUEST, "write"),
    (Channel.FILE_BLOCK, "read"),
    (Channel.DIAGNOSTICS, "write"),
    (Channel.PAYMENT, "read"),
)


#: (channel, access) of each server role on every station's subtree: the narrowest it needs.
SERVER_ROLE_ACCESS: dict[str, tuple[tuple[Channel, str], ...]] = {
    # Applies transactions, heartbeats, presence and command results; answers lookups.
    INGEST: (
        (Channel.TX, "read"),
        (Channel.ACK, "write"),
        (Channel.TELEMETRY, "read"),
        (Channel.PRESENCE, "read"),
        (Channel.COMMAND_RESULT, "read"),
        (Channel.DIAGNOSTICS, "read"),
    ),
    # Answers live lookups, beside each ingest worker on a connection of its own: a
    # resident at a kiosk never waits behind a fleet's backlog (bench/city.py).
    LOOKUP: ((Channel.LOOKUP, "read"), (Channel.LOOKUP_REPLY, "write")),
    # Answers service requests; pushes payment confirmations (sync_server/bills/notices.py).
    KIOSK: (
        (Channel.SERVICE, "read"),
        (Channel.SERVICE_REPLY, "write"),
        (Channel.PAYMENT, "write"),
    ),
    REPLICA: ((Channel.REPLICA_REQUEST, "read"), (Channel.REPLICA, "write")),
    # The dashboard and `dcs-server replica` send commands; their results come to ingest.
    COMMANDS: ((Channel.COMMAND, "write"),),
    # Sends update jobs and serves their files; watches presence to resend to returning
    # stations (contract/rollout.py).
    ROLLOUTS: (
        (Channel.JOB, "write"),
        (Channel.JOB_PROGRESS, "read"),
        (Channel.FILE_REQUEST, "read"),
        (Channel.FILE_BLOCK, "write"),
        (Channel.PRESENCE, "read"),
    ),
}


def server_identities(
    ingest_workers: int = 2, kiosk_workers: int = 1, replica_workers: int = 1
) -> dict[str, str]:
    """Every server connection's identity (its certificate's name and client id) -> its role:
    one per process, and a second one, for live lookups, per ingest worker."""
    identities = {}
    for role, count in (
        (INGEST, ingest_workers),
        (LOOKUP, ingest_workers),
        (KIOSK, kiosk_workers),
        (REPLICA, replica_workers),
    ):
        for worker in range(1, count + 1):
            identities[server_client_id(role, str(worker))] = role
    identities[server_client_id(COMMANDS)] = COMMANDS
    identities[server_client_id(ROLLOUTS, "1")] = ROLLOUTS
    return identities


class BrokerError(RuntimeError):
    """The broker could not be configured or started."""


def acl_text(
    identities: dict[str, str] | None = None, full_access: tuple[str, ...] = (SERVER_USER,)
) -> str:
    """The ACL file: each server identity its role's channels; a station only its own topics.

    ``full_access`` names accounts that read and write the whole tree (the password setup's
    ``dcs-server``; a development broker's observers). Production passes none.
    """
    lines = ["# Generated by provisioning/broker.py - do not edit by hand."]
    for user in full_access:
        lines += [f"user {user}", f"topic readwrite {ROOT}/#", ""]
    for identity, role in (identities or {}).items():
        lines.append(f"user {identity}")
        lines += [
            f"topic {access} {fleet_filter(channel)}"
            for channel, access in SERVER_ROLE_ACCESS[role]
        ]
        if role == COMMANDS:  # publishes the public notices (sync_server/notices), retained
            lines.append(f"topic write {NOTICES}/#")
        lines.append("")
    lines.append("# Every station: only under its own id (the username), only in its direction.")
    lines += [
        f"pattern {access} {ROOT}/stations/%u/{channel.value}" for channel, access in STATION_ACCESS
    ]
    # ...and the public notices, read only (contract/notices.py: nothing there is personal).
    lines.append(f"pattern read {NOTICES}/#")
    return "\n".join(lines) + "\n"


@dataclass
class BrokerLimits:
    """Queue sizes and the packet limit; the queue defaults absorb a fleet's burst after an
    outage (see MACHINE_NOTES), the packet limit is the contract's (``MAX_PACKET_BYTES``)."""

    max_queued_messages: int = 100_000
    max_inflight_messages: int = 100
    max_packet_size: int = MAX_PACKET_BYTES


def mosquitto_conf(workdir: Path, port: int, limits: BrokerLimits, host: str = "127.0.0.1") -> str:
    """A mosquitto.conf for a password-authenticated loopback listener."""
    return "\n".join(
        [
            "# Generated by provisioning/broker.py",
            "per_listener_settings false",
            "allow_anonymous false",
            f"password_file {workdir / 'passwd'}",
            f"acl_file {workdir / 'acl'}",
            f"listener {port} {host}",
            *persistence_and_limits(workdir, limits),
        ]
    )


def persistence_and_limits(workdir: Path, limits: BrokerLimits) -> list[str]:
    """The mosquitto.conf lines every listener setup shares: persistence, queues, logging."""
    return [
        "persistence true",
        f"persistence_location {workdir / 'data'}/",
        "autosave_interval 30",
        f"max_queued_messages {limits.max_queued_messages}",
        f"max_inflight_messages {limits.max_inflight_messages}",
        # Whole packets, every protocol version (MQTT 5 clients learn it from the CONNACK).
        # Not message_size_limit as well: a payload within the overhead's margin reaches
        # the ingest worker, which refuses it to the byte and records it.
        f"max_packet_size {limits.max_packet_size}",
        "set_tcp_nodelay true",
        "log_dest stderr",
        "log_type error",
        "log_type warning",
        "log_type notice",
        "",
    ]


def hash_passwords(path: Path, credentials: dict[str, str]) -> None:
    """Write ``credentials`` to ``path`` hashed by ``mosquitto_passwd`` (PBKDF2-SHA512)."""
    path.write_text("".join(f"{user}:{password}\n" for user, password in credentials.items()))
    os.chmod(path, 0o600)
    result = subprocess.run(
        ["mosquitto_passwd", "-U", str(path)], capture_output=True, text=True, check=False
    )
    if result.returncode != 0:
        raise BrokerError(f"mosquitto_passwd failed: {result.stderr.strip() or result.stdout}")
