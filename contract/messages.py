"""Message schemas of the wire contract.

Every message carries ``v``, the schema version. A receiver rejects a version it does not know
(:class:`contract.errors.UnsupportedVersionError`) and ignores unknown fields, so fields can be
added within a version without breaking older receivers; removing or changing one needs ``v=2``.

Times are RFC 3339 with an offset. ``station_time`` is the station's clock, which may be wrong:
the server records its own receive time and never orders anything by station time.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Annotated, Any, Literal

import msgspec

from contract.topics import STATION_ID_PATTERN

SCHEMA_VERSION = 1
SUPPORTED_VERSIONS: tuple[int, ...] = (1,)

StationId = Annotated[str, msgspec.Meta(pattern=STATION_ID_PATTERN)]
TxId = Annotated[
    str,
    msgspec.Meta(pattern=r"^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$"),
]
CitizenId = Annotated[str, msgspec.Meta(pattern=r"^[0-9]{13}$")]
AwareDatetime = Annotated[datetime, msgspec.Meta(tz=True)]
TxKind = Annotated[
    str, msgspec.Meta(pattern=r"^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)+$", max_length=48)
]
ThaiMobile = Annotated[str, msgspec.Meta(pattern=r"^0[0-9]{9}$")]
PetitionNumber = Annotated[str, msgspec.Meta(pattern=r"^P-[A-Z0-9-]{3,32}-[0-9]{7}-[0-9A-Z*]$")]
Baht = Decimal  # non-negative; checked in __post_init__ (msgspec has no bounds on Decimal)
Count = Annotated[int, msgspec.Meta(ge=0)]


class Message(msgspec.Struct, kw_only=True):
    """Base of every wire message: the schema version comes first."""

    v: int = SCHEMA_VERSION


# --- transactions: station -> server ------------------------------------------------------


class Transaction(Message, kw_only=True):
    """One state-changing action taken at a station, delivered at least once.

    ``tx_id`` is a UUIDv7 minted on the station; the server applies a ``tx_id`` at most once.
    ``seq`` is the station's outbox sequence, useful to spot gaps, never to order stations.
    ``body`` is validated against the schema registered for ``kind`` (see ``TX_BODIES``).
    """

    tx_id: TxId
    station_id: StationId
    seq: Annotated[int, msgspec.Meta(ge=1)]
    kind: TxKind
    station_time: AwareDatetime
    body: dict[str, Any]


class PetitionFiled(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """Body of ``petition.filed``: a petition or data-correction request filed at a station."""

    number: PetitionNumber
    service: Annotated[str, msgspec.Meta(pattern=r"^[a-z][a-z0-9_]{1,39}$")]
    phone: ThaiMobile
    citizen_id: CitizenId | None = None
    form: dict[
        Annotated[str, msgspec.Meta(max_length=64)], Annotated[str, msgspec.Meta(max_length=4000)]
    ] = {}


TX_BODIES: dict[str, type[msgspec.Struct]] = {
    "petition.filed": PetitionFiled,
}


# --- acks: server -> station --------------------------------------------------------------

AckOutcome = Literal["applied", "duplicate", "rejected"]


class AckItem(msgspec.Struct, kw_only=True):
    """The server's verdict on one transaction.

    ``applied`` and ``duplicate`` both end the transaction's life in the outbox; ``rejected``
    means it can never be applied (``reason`` says why) and the station keeps it aside.
    """

    tx_id: TxId
    outcome: AckOutcome
    reason: str | None = None


class Ack(Message, kw_only=True):
    """Acks for one or more transactions of one station, sent after the server committed them."""

    station_id: StationId
    server_time: AwareDatetime
    results: Annotated[list[AckItem], msgspec.Meta(min_length=1, max_length=1000)]


# --- live lookups: MQTT 5 request/response ------------------------------------------------


class LookupRequest(Message, kw_only=True):
    """A live lookup; sent with the MQTT 5 ``ResponseTopic`` and ``CorrelationData`` properties."""

    station_id: StationId
    query: Literal["insured_summary"]
    citizen_id: CitizenId


class InsuredSummary(msgspec.Struct, kw_only=True):
    """The insured-person summary of seed 003."""

    citizen_id: CitizenId
    full_name_th: str
    full_name_en: str | None = None
    status: Literal["section33", "section39", "resigned"]
    hospital: str | None = None
    contributions_baht: Baht
    contributions_count: Count
    benefits_baht: Baht
    benefits_count: Count
    old_age_savings_baht: Baht

    def __post_init__(self) -> None:
        for name in ("contributions_baht", "benefits_baht", "old_age_savings_baht"):
            if getattr(self, name) < 0:
                raise ValueError(f"`{name}` must be >= 0")


class LookupResponse(Message, kw_only=True):
    """The answer to a :class:`LookupRequest`; ``as_of`` is the date the data is as of."""

    status: Literal["ok", "not_found", "refused", "error"]
    as_of: date | None = None
    record: InsuredSummary | None = None
    reason: str | None = None


# --- presence and telemetry ---------------------------------------------------------------


class Presence(Message, kw_only=True):
    """Retained station state; the broker publishes ``offline`` as the station's last will."""

    station_id: StationId
    state: Literal["online", "offline"]
    station_time: AwareDatetime
    software_version: str | None = None


class Heartbeat(Message, kw_only=True):
    """Periodic telemetry. ``metrics`` carries extra gauges (disk, paper...) by name."""

    station_id: StationId
    station_time: AwareDatetime
    uptime_s: Annotated[float, msgspec.Meta(ge=0)]
    backlog: Count
    oldest_undelivered_age_s: Annotated[float, msgspec.Meta(ge=0)] | None = None
    rejected: Count = 0
    software_version: str | None = None
    metrics: dict[str, float] = {}


# --- remote commands: server -> station ---------------------------------------------------

CommandName = Literal[
    "ping", "refresh_replica", "wipe_replica", "reboot", "lock", "unlock", "print_test_page"
]


class Command(Message, kw_only=True):
    """A remote command; the station ignores it after ``expires_at`` (server time)."""

    command_id: Annotated[str, msgspec.Meta(pattern=r"^[0-9a-f-]{36}$")]
    station_id: StationId
    name: CommandName
    args: dict[str, Any] = {}
    issued_at: AwareDatetime
    expires_at: AwareDatetime


class CommandResult(Message, kw_only=True):
    """What became of a :class:`Command` on the station."""

    command_id: Annotated[str, msgspec.Meta(pattern=r"^[0-9a-f-]{36}$")]
    station_id: StationId
    status: Literal["done", "failed", "rejected", "expired"]
    detail: str | None = None
    station_time: AwareDatetime
