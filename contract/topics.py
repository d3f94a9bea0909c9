"""The versioned MQTT topic tree shared by stations and the server.

Every topic a station uses lives under ``dcs/v1/stations/{station_id}/``, so one broker ACL
pattern confines a station to its own subtree (see ``provisioning/broker.py``).
"""

from __future__ import annotations

import re
from enum import StrEnum

from contract.errors import TopicError

ROOT = "dcs/v1"
STATIONS = f"{ROOT}/stations"

STATION_ID_PATTERN = r"^[a-z0-9](?:[a-z0-9-]{1,30})[a-z0-9]$"
_STATION_ID_RE = re.compile(STATION_ID_PATTERN)
#: The server's and the broker's certificate names start with it (``dcs-ingest-1``,
#: ``dcs-broker``...). The broker takes an MQTT identity from a certificate's common name, so
#: a station called ``dcs-...`` would be a server process: no station id may start with it.
RESERVED_IDENTITY_PREFIX = "dcs-"
RESERVED_IDENTITIES = frozenset({"dcs"})


class Channel(StrEnum):
    """The last part(s) of a station topic; the value is the topic suffix."""

    TX = "tx"  # station -> server: transactions from the outbox (QoS 1)
    ACK = "ack"  # server -> station: results of applying transactions (QoS 1)
    LOOKUP = "lookup"  # station -> server: MQTT 5 request with response topic + correlation
    LOOKUP_REPLY = "lookup/reply"  # server -> station: the response
    PRESENCE = "presence"  # station -> all: retained online/offline, offline is the last will
    TELEMETRY = "telemetry"  # station -> server: heartbeats with backlog figures
    COMMAND = "cmd"  # server -> station: remote commands (QoS 1, retained until done or expired)
    COMMAND_RESULT = "cmd/result"  # station -> server: outcome of a command
    REPLICA_REQUEST = "replica/request"  # station -> server: send my replica (full or since)
    REPLICA = "replica"  # server -> station: sealed replica parts, or a refusal
    SERVICE = "service"  # station -> server: a kiosk service request (OTP, reset, e-ID...)
    SERVICE_REPLY = "service/reply"  # server -> station: its answer
    JOB = "job"  # server -> station: an update job, signed (contract/rollout.py; QoS 1)
    JOB_PROGRESS = "job/progress"  # station -> server: where a job stands
    FILE_REQUEST = "file/request"  # station -> server: blocks of a file of a job
    FILE_BLOCK = "file/block"  # server -> station: the blocks, or a refusal (QoS 1)
    DIAGNOSTICS = "diagnostics"  # station -> server: a diagnostics bundle, in parts, on command
    PAYMENT = "payment"  # server -> station: a payment confirmed or expired (QoS 1)


def is_reserved_identity(name: str) -> bool:
    """True when ``name`` belongs to the server side (``dcs`` or ``dcs-*``), never a station."""
    return name in RESERVED_IDENTITIES or name.startswith(RESERVED_IDENTITY_PREFIX)


def is_valid_station_id(station_id: str) -> bool:
    """True for a lowercase slug safe in a topic (3 to 32 chars) that is not a server name."""
    return bool(_STATION_ID_RE.match(station_id)) and not is_reserved_identity(station_id)


def check_station_id(station_id: str) -> str:
    """Return ``station_id`` or raise :class:`TopicError` if it is not a valid id."""
    if not is_valid_station_id(station_id):
        raise TopicError(
            f"invalid station id {station_id!r}: expected {STATION_ID_PATTERN}, "
            f"not starting with {RESERVED_IDENTITY_PREFIX!r}"
        )
    return station_id


def station_topic(station_id: str, channel: Channel) -> str:
    """The topic of ``channel`` for one station."""
    return f"{STATIONS}/{check_station_id(station_id)}/{channel.value}"


def fleet_filter(channel: Channel) -> str:
    """A subscription filter matching ``channel`` for every station."""
    return f"{STATIONS}/+/{channel.value}"


def shared_filter(group: str, channel: Channel) -> str:
    """An MQTT 5 shared subscription: the broker spreads messages over the group's workers."""
    if not re.fullmatch(r"[A-Za-z0-9_-]+", group):
        raise TopicError(f"invalid shared-subscription group {group!r}")
    return f"$share/{group}/{fleet_filter(channel)}"


def parse_station_topic(topic: str) -> tuple[str, Channel]:
    """Split a station topic into ``(station_id, channel)``.

    Raises :class:`TopicError` for anything outside the tree.
    """
    prefix = f"{STATIONS}/"
    if not topic.startswith(prefix):
        raise TopicError(f"topic {topic!r} is outside {STATIONS}/")
    station_id, _, suffix = topic[len(prefix) :].partition("/")
    check_station_id(station_id)
    try:
        channel = Channel(suffix)
    except ValueError:
        raise TopicError(f"unknown channel {suffix!r} in topic {topic!r}") from None
    return station_id, channel
