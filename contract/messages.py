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

from contract.bills import BillId, BillItem, PaymentQr, PaymentReference, PlanQuote, QuoteId
from contract.checkups import BookingRef, CheckupBooking, CheckupSlot, SlotId
from contract.identifiers import CitizenId, PetitionNumber, ThaiMobile
from contract.topics import STATION_ID_PATTERN

SCHEMA_VERSION = 1
SUPPORTED_VERSIONS: tuple[int, ...] = (1,)

StationId = Annotated[str, msgspec.Meta(pattern=STATION_ID_PATTERN)]
TX_ID_PATTERN = r"^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$"
TxId = Annotated[str, msgspec.Meta(pattern=TX_ID_PATTERN)]
AwareDatetime = Annotated[datetime, msgspec.Meta(tz=True)]
TxKind = Annotated[
    str, msgspec.Meta(pattern=r"^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)+$", max_length=48)
]
Baht = Decimal  # non-negative; checked in __post_init__ (msgspec has no bounds on Decimal)
Count = Annotated[int, msgspec.Meta(ge=0)]


def _check_baht(struct: msgspec.Struct, *names: str) -> None:
    for name in names:
        if getattr(struct, name) < 0:
            raise ValueError(f"`{name}` must be >= 0")


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


#: The languages of the kiosk and of the texts sent to citizens.
Language = Literal["th", "vi", "en"]


class PetitionFiled(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """Body of ``petition.filed``: a petition or data-correction request filed at a station."""

    number: PetitionNumber
    service: Annotated[str, msgspec.Meta(pattern=r"^[a-z][a-z0-9_]{1,39}$")]
    phone: ThaiMobile
    citizen_id: CitizenId | None = None
    form: dict[
        Annotated[str, msgspec.Meta(max_length=64)], Annotated[str, msgspec.Meta(max_length=4000)]
    ] = {}
    #: The kiosk's language when it was filed: the citizen's SMS are written in it (seed 004).
    #: Optional, so a station of an older release still files (the server's default applies).
    language: Language | None = None


class LookupAudited(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """Body of ``audit.lookup``: a kiosk looked a record up in the station's replica, offline.

    Live lookups are audited by the server as it answers them; an offline one reaches the
    audit trail through the outbox instead.
    """

    query: Literal["insured_summary", "insured_record"]
    citizen_id: CitizenId
    outcome: Literal["found", "not_found"]


TX_BODIES: dict[str, type[msgspec.Struct]] = {
    "petition.filed": PetitionFiled,
    "audit.lookup": LookupAudited,
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
    """A live lookup; sent with the MQTT 5 ``ResponseTopic`` and ``CorrelationData`` properties.

    ``insured_summary`` answers with ``record`` (the summary screen); ``insured_record`` with
    ``full_record`` (the summary and the four detail screens).
    """

    station_id: StationId
    query: Literal["insured_summary", "insured_record"]
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
        _check_baht(self, "contributions_baht", "benefits_baht", "old_age_savings_baht")


#: Gregorian years; screens show them in the deployment's calendar (contract/local_time.py).
Year = Annotated[int, msgspec.Meta(ge=1900, le=2200)]
#: A code the kiosk translates from its catalogue (``sickness``, ``bank_transfer``...).
Code = Annotated[str, msgspec.Meta(pattern=r"^[a-z][a-z0-9_]{1,31}$")]
#: A building (a station's replica scope), as in ``replica.building`` of the station config.
BuildingId = Annotated[str, msgspec.Meta(pattern=r"^[a-z0-9][a-z0-9-]{0,62}[a-z0-9]$")]

#: Benefit types and payment methods the master records use today (codes, not text).
BENEFIT_TYPES = (
    "sickness",
    "maternity",
    "invalidity",
    "death",
    "child_allowance",
    "old_age",
    "unemployment",
)
PAYMENT_METHODS = ("bank_transfer", "promptpay", "cheque")


class HospitalEntitlement(msgspec.Struct, kw_only=True):
    """The hospital detail screen: entitlement, hospital, the card's issue and expiry dates."""

    entitled: bool
    hospital: str | None = None
    card_issued_on: date | None = None
    card_expires_on: date | None = None


class ContributionYear(msgspec.Struct, kw_only=True):
    """One row of the contributions screen: payments made in ``year`` and their amount."""

    year: Year
    payments: Count
    amount: Baht

    def __post_init__(self) -> None:
        _check_baht(self, "amount")


class BenefitClaim(msgspec.Struct, kw_only=True):
    """One paid benefit claim (``benefit_type`` in ``BENEFIT_TYPES``, ``method`` in
    ``PAYMENT_METHODS``, more codes may be added)."""

    paid_on: date
    benefit_type: Code
    method: Code
    amount: Baht

    def __post_init__(self) -> None:
        _check_baht(self, "amount")


class OldAgeSavingsYear(msgspec.Struct, kw_only=True):
    """One year of old-age savings by who paid in. For verification on screen, never printed."""

    year: Year
    employee: Baht
    employer: Baht
    government: Baht

    def __post_init__(self) -> None:
        _check_baht(self, "employee", "employer", "government")

    @property
    def total(self) -> Decimal:
        """What the three paid in that year."""
        return self.employee + self.employer + self.government


class InsuredRecord(msgspec.Struct, kw_only=True):
    """The whole insured-person record of seed 003: the summary and the four detail screens.

    ``as_of`` is the date the master data is as of; every screen shows it. Lists are newest
    first. The same record comes from a live lookup and from the station's replica.
    """

    summary: InsuredSummary
    as_of: date
    building: BuildingId | None = None
    hospital: HospitalEntitlement
    contributions: list[ContributionYear] = []
    benefits: list[BenefitClaim] = []
    old_age_savings: list[OldAgeSavingsYear] = []

    @property
    def citizen_id(self) -> str:
        """The insured person's citizen id."""
        return self.summary.citizen_id


class LookupResponse(Message, kw_only=True):
    """The answer to a :class:`LookupRequest`; ``as_of`` is the date the data is as of."""

    status: Literal["ok", "not_found", "refused", "error"]
    as_of: date | None = None
    record: InsuredSummary | None = None
    full_record: InsuredRecord | None = None
    reason: str | None = None


# --- kiosk services: MQTT 5 request/response on ``service`` -------------------------------

#: What a kiosk may ask the server to do for the resident standing at it.
ServiceAction = Literal[
    "otp.send",  # send a one-time code by SMS (purpose, phone) -> ticket
    "otp.check",  # check a code (purpose, ticket, code)
    "password.start",  # seed 000: insurance number + phone of the card holder -> code sent
    "password.reset",  # ...the code -> a temporary password, shown on screen only
    "eid.start",  # seed 001: phone -> code sent
    "eid.register",  # ...the code, the declared data, a password -> level-1 account
    "eid.wards",  # seed 001: the people the card holder registers for (guardian links)
    "petitions.mine",  # the petitions filed with the card holder's id, with their history
    "track.start",  # seed 004: petition number + the phone used to file it -> code sent
    "track.check",  # ...the code -> the petition's status history
    "operator.login",  # counter mode (seed 003): username + password -> an operator session
    "operator.touch",  # ...the session is still in use at this station (the page is open)
    "operator.logout",  # ...ended by the officer (one tap after each resident)
    "bills.list",  # seed 002: the card holder's outstanding bills (contract/bills.py)
    "bills.pay",  # ...some of them (bill_ids) -> a payment QR
    "bills.status",  # ...where a payment of this station stands (reference)
    "insurance.quote",  # seed 002: household health-insurance plans for the card holder
    "insurance.buy",  # ...one of them (quote_id) -> a payment QR
    "checkup.slots",  # seed 002: free check-up slots for the card holder (contract/checkups.py)
    "checkup.book",  # ...book ``slot`` for the card holder -> the booking, SMS with the video link
    "checkup.cancel",  # ...cancel the card holder's ``booking`` -> SMS says cancelled
    "checkup.mine",  # ...the card holder's booked check-ups
]
OtpPurpose = Literal["petition", "kiosk_password_reset", "eid_register", "tracking"]
TicketId = Annotated[str, msgspec.Meta(pattern=r"^[0-9a-f]{32}$")]
OtpCode = Annotated[str, msgspec.Meta(pattern=r"^[0-9]{6}$")]


class DeclaredIdentity(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """What a citizen declares for an e-ID account (seed 001): read from the card and
    confirmed, or typed by a guardian for a child under 14."""

    citizen_id: CitizenId
    first_th: Annotated[str, msgspec.Meta(min_length=1, max_length=100)]
    last_th: Annotated[str, msgspec.Meta(min_length=1, max_length=100)]
    date_of_birth: date | None = None
    email: Annotated[str, msgspec.Meta(max_length=254)] | None = None
    #: A foreigner's passport (or travel document) number and nationality (ISO 3166-1
    #: alpha-2), typed at the kiosk: the card does not hold them.
    passport_number: Annotated[str, msgspec.Meta(pattern=r"^[A-Z0-9]{5,20}$")] | None = None
    nationality: Annotated[str, msgspec.Meta(pattern=r"^[A-Z]{2}$")] | None = None


class Ward(msgspec.Struct, kw_only=True):
    """Someone the card holder registers an e-ID account for (``eid.wards``): the population
    register links them to the card holder, and they are under 14 (``minor``) or without
    legal capacity (``no_legal_capacity``). Shown to the guardian to choose from."""

    citizen_id: CitizenId
    prefix_th: Annotated[str, msgspec.Meta(max_length=32)]
    first_th: Annotated[str, msgspec.Meta(min_length=1, max_length=100)]
    last_th: Annotated[str, msgspec.Meta(min_length=1, max_length=100)]
    date_of_birth: date | None = None
    birth_year: Annotated[int, msgspec.Meta(ge=1900, le=2200)]
    relation: Literal["parent", "guardian"]
    why: Literal["minor", "no_legal_capacity"]


class ServiceRequest(Message, kw_only=True):
    """A kiosk service request; sent with ``ResponseTopic`` and ``CorrelationData`` like a
    lookup. Which fields each ``action`` needs is in docs/contract.md; ``citizen_id`` is
    always the id read from the card in the reader, never typed."""

    station_id: StationId
    action: ServiceAction
    citizen_id: CitizenId | None = None
    phone: ThaiMobile | None = None
    purpose: OtpPurpose | None = None
    ticket: TicketId | None = None
    code: OtpCode | None = None
    insurance_number: Annotated[str, msgspec.Meta(pattern=r"^[0-9]{13}$")] | None = None
    number: PetitionNumber | None = None
    declared: DeclaredIdentity | None = None
    guardian: bool = False  # eid.register: the card holder registers a child under 14
    password: Annotated[str, msgspec.Meta(min_length=8, max_length=128)] | None = None
    username: Annotated[str, msgspec.Meta(min_length=1, max_length=32)] | None = None
    session: Annotated[str, msgspec.Meta(min_length=20, max_length=64)] | None = None
    #: When the station sent it (its clock). The server refuses a request older than its
    #: ``KIOSK_REQUEST_MAX_AGE_S`` and does nothing for it: a code or a temporary password
    #: asked for by a kiosk that has long stopped waiting (a frozen broker, a network that
    #: came back) is never sent later. Absent from older stations: accepted as before.
    sent_at: AwareDatetime | None = None
    bill_ids: Annotated[list[BillId], msgspec.Meta(max_length=10)] = []  # bills.pay
    reference: PaymentReference | None = None  # bills.status
    quote_id: QuoteId | None = None  # insurance.buy
    slot: SlotId | None = None  # checkup.book
    booking: BookingRef | None = None  # checkup.cancel
    #: The kiosk's language: the SMS the request causes are written in it.
    language: Language | None = None


class StatusStep(msgspec.Struct, kw_only=True):
    """One step of a petition's public status history (the status and when; never who)."""

    status: Code
    at: AwareDatetime


class PetitionStatus(msgspec.Struct, kw_only=True):
    """A petition as the resident may see it: number, service, where it stands, history."""

    number: PetitionNumber
    service: Code
    status: Code
    received_at: AwareDatetime
    history: list[StatusStep] = []


ServiceStatus = Literal[
    "ok",  # done; the fields of the action are filled in
    "no_match",  # seed 000: the phone and the insurance number do not match
    "wrong_code",  # the code is wrong; tries remain
    "expired",  # no live code (expired, used, superseded, burnt): ask for a new one
    "rate_limited",  # too many tries; ``retry_after_s`` says when
    "refused",  # the request cannot go ahead; ``reason`` is a code the kiosk translates
    "error",  # the server failed; try again later
]


class ServiceResponse(Message, kw_only=True):
    """The answer to a :class:`ServiceRequest`. ``temporary_password`` is shown on the
    kiosk's screen only: never printed, logged or stored by the station."""

    status: ServiceStatus
    reason: Annotated[str, msgspec.Meta(max_length=64)] | None = None
    ticket: TicketId | None = None
    expires_at: AwareDatetime | None = None
    retry_after_s: Annotated[float, msgspec.Meta(ge=0)] | None = None
    temporary_password: str | None = None
    level: Annotated[int, msgspec.Meta(ge=1, le=2)] | None = None
    petitions: list[PetitionStatus] = []
    #: operator.login: the session token (kept in the station's memory only) and who it is.
    session: Annotated[str, msgspec.Meta(min_length=20, max_length=64)] | None = None
    operator_name: Annotated[str, msgspec.Meta(max_length=130)] | None = None
    #: bills.list: the card holder's outstanding bills; bills.pay / insurance.buy /
    #: bills.status: the payment and its QR; insurance.quote: the plans offered.
    bills: list[BillItem] = []
    payment: PaymentQr | None = None
    quotes: list[PlanQuote] = []
    #: ...and their position (seed 003's system-information screen shows it).
    operator_position: Annotated[str, msgspec.Meta(max_length=64)] | None = None
    #: eid.wards: the people the card holder may register for, oldest first.
    wards: list[Ward] = []
    slots: list[CheckupSlot] = []
    bookings: list[CheckupBooking] = []


# --- replicas: the records of the residents a station serves --------------------------------

RequestId = Annotated[str, msgspec.Meta(pattern=r"^[0-9a-f]{32}$")]
Cursor = Annotated[int, msgspec.Meta(ge=0)]


class ReplicaRequest(Message, kw_only=True):
    """A station asks for its replica: everything since ``cursor``, or all of it.

    Sent at every connect and after a ``refresh_replica`` command. ``building`` comes from the
    station's config and ``public_key`` (raw X25519, 32 bytes) from its secrets; the server
    answers only if both match the station's enrolment. ``cursor`` is what the station holds
    (``None``: nothing); ``full`` asks for everything whatever the cursor.
    """

    station_id: StationId
    request_id: RequestId
    building: BuildingId
    public_key: Annotated[bytes, msgspec.Meta(min_length=32, max_length=32)]
    cursor: Cursor | None = None
    full: bool = False
    station_time: AwareDatetime


class ReplicaContent(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """The plaintext inside one sealed replica part (see ``contract/replica_seal.py``).

    An update is ``parts`` parts sharing ``update_id``; the station applies it once all have
    arrived, in one transaction. ``full`` replaces the whole replica and answers the request
    ``request_id``; ``delta`` applies on top of ``base_cursor`` exactly. After either, the
    station's cursor is ``cursor`` and its replica is as of ``as_of`` (server time).
    """

    station_id: StationId
    building: BuildingId
    update_id: RequestId
    request_id: RequestId | None = None
    mode: Literal["full", "delta"]
    base_cursor: Cursor | None = None
    cursor: Cursor
    as_of: AwareDatetime
    part: Annotated[int, msgspec.Meta(ge=1)]
    parts: Annotated[int, msgspec.Meta(ge=1, le=100_000)]
    records: list[InsuredRecord] = []
    removed: list[CitizenId] = []


class ReplicaEnvelope(Message, kw_only=True, tag="replica.part", tag_field="type"):
    """One replica part, encrypted for one station and signed by the server.

    ``key_id`` names the station key it is encrypted for; ``ephemeral_key`` is the sender's
    one-time X25519 key; ``ciphertext`` is AES-256-GCM of the zlib-compressed
    :class:`ReplicaContent`; ``signature`` is the server's Ed25519 signature over all of it.
    """

    station_id: StationId
    key_id: Annotated[str, msgspec.Meta(pattern=r"^[0-9a-f]{16}$")]
    ephemeral_key: Annotated[bytes, msgspec.Meta(min_length=32, max_length=32)]
    nonce: Annotated[bytes, msgspec.Meta(min_length=12, max_length=12)]
    ciphertext: Annotated[bytes, msgspec.Meta(min_length=16)]
    signature: Annotated[bytes, msgspec.Meta(min_length=64, max_length=64)]


class ReplicaRefusal(Message, kw_only=True, tag="replica.refused", tag_field="type"):
    """The server will not send this station a replica (not enrolled, wrong scope or key,
    suspended by a wipe). Changes nothing on the station; the reason is for its log."""

    station_id: StationId
    request_id: RequestId | None = None
    reason: Annotated[str, msgspec.Meta(max_length=200)]
    server_time: AwareDatetime


#: What arrives on a station's ``replica`` topic.
ReplicaMessage = ReplicaEnvelope | ReplicaRefusal


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
    "ping",
    "refresh_replica",
    "wipe_replica",
    "reboot",
    "lock",
    "unlock",
    "print_test_page",
    "collect_diagnostics",
]


class Command(Message, kw_only=True):
    """A remote command; the station ignores it after ``expires_at`` (server time).

    ``signature`` is the server's Ed25519 signature over every other field
    (``contract/command_seal.py``); a station acts only on a command that verifies. It is
    optional in the schema only so that an unsigned command still decodes and can be
    answered ``rejected`` rather than dropped without a word.
    """

    command_id: Annotated[str, msgspec.Meta(pattern=r"^[0-9a-f-]{36}$")]
    station_id: StationId
    name: CommandName
    args: dict[str, Any] = {}
    issued_at: AwareDatetime
    expires_at: AwareDatetime
    signature: Annotated[bytes, msgspec.Meta(max_length=64)] | None = None


class CommandResult(Message, kw_only=True):
    """What became of a :class:`Command` on the station."""

    command_id: Annotated[str, msgspec.Meta(pattern=r"^[0-9a-f-]{36}$")]
    station_id: StationId
    status: Literal["done", "failed", "rejected", "expired"]
    detail: str | None = None
    station_time: AwareDatetime


# --- diagnostics: station -> server, only in answer to ``collect_diagnostics`` ----------------

#: The largest diagnostics bundle a station may send (the server refuses more), and the size
#: of one part's data: a part, base64 in JSON, stays well under ``MAX_PAYLOAD_BYTES``.
DIAGNOSTICS_MAX_BYTES = 1024 * 1024
DIAGNOSTICS_PART_BYTES = 32 * 1024
DIAGNOSTICS_MAX_PARTS = DIAGNOSTICS_MAX_BYTES // DIAGNOSTICS_PART_BYTES


class DiagnosticsPart(Message, kw_only=True):
    """One part of a station's diagnostics bundle (a zip), sent for the command ``command_id``.

    The server keeps parts only for a ``collect_diagnostics`` command it sent to that station,
    one bundle per command, at most :data:`DIAGNOSTICS_MAX_BYTES` in all; ``sha256`` is of the
    whole bundle, checked when the last part is in.
    """

    command_id: Annotated[str, msgspec.Meta(pattern=r"^[0-9a-f-]{36}$")]
    station_id: StationId
    part: Annotated[int, msgspec.Meta(ge=1, le=DIAGNOSTICS_MAX_PARTS)]
    parts: Annotated[int, msgspec.Meta(ge=1, le=DIAGNOSTICS_MAX_PARTS)]
    sha256: Annotated[str, msgspec.Meta(pattern=r"^[0-9a-f]{64}$")]
    data: Annotated[bytes, msgspec.Meta(min_length=1, max_length=DIAGNOSTICS_PART_BYTES)]
