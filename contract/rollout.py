"""Update jobs, their progress and file delivery over MQTT: the rollout part of the contract.

The model follows AWS IoT Jobs and its MQTT-based file delivery (docs/updates.md says how):

- The server sends a station a :class:`Job` on ``job`` (QoS 1). ``kind`` is ``release``
  (install a signed release), ``config`` (apply a signed configuration change) or
  ``rollback`` (undo the job ``target_job_id``: stop it if it is still running, revert it
  if it was committed). A job is signed by the server's Ed25519 key like a command
  (:func:`sign_job`, :func:`verify_job`, context ``dcs/v1 job``); a release is signed a
  second time, offline, by the release key (``contract/release.py``): the server can send a
  release, but it cannot make one.
- A job is idempotent by ``job_id``: the server sends it again whenever the station comes
  back online until ``deadline``, and a station that already ran it reports its state again.
- The station reports every step on ``job/progress`` as a :class:`JobProgress`.
- A release is a manifest plus the files it names by SHA-256. The station fetches the
  manifest (``Job.release.manifest``), verifies ``manifest_signature`` with the release key,
  then fetches every file the manifest names. A file's id *is* its SHA-256 (hex), so the
  station checks what it assembled against the signed manifest and nothing else.
- Files travel in blocks: the station asks on ``file/request`` (:class:`FileRequest`: a run
  of block indexes, optionally thinned by a bitmap of the ones still missing) and the server
  answers each block on ``file/block`` (:class:`FileBlock`, QoS 1) or refuses
  (:class:`FileRefusal`). Blocks are written at ``index * block_size``, so a download resumes
  after any disconnect by asking only for the blocks it lacks.
- A station may fetch only the files of a job addressed to it that is still open, within a
  byte budget; anything else is refused (``not_addressed``, ``budget_exhausted``...).
"""

from __future__ import annotations

import math
from typing import Annotated, Any, Literal

import msgspec
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from contract.codec import MAX_PAYLOAD_BYTES, to_builtins
from contract.errors import ContractError
from contract.messages import AwareDatetime, Message, RequestId, StationId

CONTEXT = b"dcs/v1 job\x00"
SIGNATURE_FIELD = "signature"

#: A block's payload travels base64 in JSON: 32 KiB becomes 43,692 bytes, well inside the
#: contract's 64 KiB message limit (``MAX_PAYLOAD_BYTES``) and the broker's packet limit.
MAX_BLOCK_SIZE = 32 * 1024
MIN_BLOCK_SIZE = 1024
DEFAULT_BLOCK_SIZE = MAX_BLOCK_SIZE
#: Blocks one request may ask for: 64 x 32 KiB = 2 MiB in the broker's queue per station at
#: most, whatever the station asks. It asks for the next run as the blocks arrive.
MAX_BLOCKS_PER_REQUEST = 64
#: A file the server will deliver at most (a wheel of the release, its manifest).
MAX_FILE_SIZE = 256 * 1024 * 1024

assert 4 * math.ceil(MAX_BLOCK_SIZE / 3) + 1024 < MAX_PAYLOAD_BYTES

Uuid = Annotated[
    str, msgspec.Meta(pattern=r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
]
#: A file's id: the lowercase hex SHA-256 of its bytes.
FileId = Annotated[str, msgspec.Meta(pattern=r"^[0-9a-f]{64}$")]
#: A release version as the package metadata spells it (PEP 440), e.g. ``0.2.0``, ``0.2.0rc1``.
Version = Annotated[str, msgspec.Meta(pattern=r"^[0-9][0-9A-Za-z.+!-]{0,63}$")]
Reason = Annotated[str, msgspec.Meta(max_length=200)]
BlockSize = Annotated[int, msgspec.Meta(ge=MIN_BLOCK_SIZE, le=MAX_BLOCK_SIZE)]
BlockIndex = Annotated[int, msgspec.Meta(ge=0)]

JobKind = Literal["release", "config", "rollback"]


class SealError(ContractError):
    """A job is unsigned, not signed by the server's key, or not for this station."""


# --- remote configuration: the allowlist ----------------------------------------------------

_Seconds = Annotated[float, msgspec.Meta(gt=0, le=3600)]

#: Every station setting a ``config`` job may change (``section.key`` of the station's TOML
#: config, ``device/config.py``) and the values it accepts. Anything else is refused on both
#: sides: identity, broker, keys, devices and paths are never changed remotely.
CONFIG_KEYS: dict[str, Any] = {
    # Sync tuning.
    "sync.window": Annotated[int, msgspec.Meta(ge=1, le=10_000)],
    "sync.ack_timeout_s": _Seconds,
    "sync.ack_timeout_max_s": _Seconds,
    "sync.reconnect_initial_s": _Seconds,
    "sync.reconnect_max_s": _Seconds,
    # The dashboard's staleness alarm counts in heartbeat intervals (ALARM_STALE_HEARTBEATS).
    "sync.heartbeat_interval_s": Annotated[float, msgspec.Meta(ge=5, le=3600)],
    "sync.lookup_timeout_s": Annotated[float, msgspec.Meta(gt=0, le=60)],
    "sync.retention_days": Annotated[float, msgspec.Meta(ge=0, le=365)],
    # Kiosk settings.
    "kiosk.idle_timeout_s": Annotated[float, msgspec.Meta(ge=10, le=3600)],
    "kiosk.countdown_s": Annotated[float, msgspec.Meta(ge=3, le=120)],
    "kiosk.default_language": Literal["th", "vi", "en"],
    "kiosk.read_aloud": bool,
    "kiosk.counter_mode": bool,
}

SettingValue = bool | int | float | str


def check_settings(settings: dict[str, Any]) -> dict[str, SettingValue]:
    """``settings`` validated against :data:`CONFIG_KEYS`; raises :class:`ContractError`.

    Returns the values as their declared types (an ``int`` given for a float setting becomes
    a ``float``).
    """
    if not settings:
        raise ContractError("a configuration change names at least one setting")
    checked: dict[str, SettingValue] = {}
    for key, value in settings.items():
        type_ = CONFIG_KEYS.get(key)
        if type_ is None:
            raise ContractError(f"setting {key!r} may not be changed remotely")
        try:
            checked[key] = msgspec.convert(value, type_)
        except msgspec.ValidationError as exc:
            raise ContractError(f"setting {key!r}: {exc}") from None
    return checked


# --- jobs: server -> station ----------------------------------------------------------------


class JobFile(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """A file the station fetches by blocks: its id (SHA-256) and size in bytes."""

    file_id: FileId
    size: Annotated[int, msgspec.Meta(ge=0, le=MAX_FILE_SIZE)]


class ReleaseSpec(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """What a ``release`` job installs.

    ``manifest`` is the release manifest as ``dcs-release build`` wrote it, fetched by
    blocks; ``manifest_signature`` is the release key's Ed25519 signature over those bytes
    (verified on the station before anything else). ``version`` repeats the manifest's
    version for the logs and the dashboard; the manifest's own field is the one that counts.
    """

    version: Version
    manifest: JobFile
    manifest_signature: Annotated[bytes, msgspec.Meta(min_length=64, max_length=64)]
    block_size: BlockSize = DEFAULT_BLOCK_SIZE


class ConfigChange(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """What a ``config`` job applies: allowlisted settings (:data:`CONFIG_KEYS`) and a label."""

    settings: dict[str, SettingValue]
    #: An operator's name for the change, shown on the dashboard (``tune-sync-2025-06``).
    label: Annotated[str, msgspec.Meta(pattern=r"^[A-Za-z0-9._-]{1,64}$")]

    def __post_init__(self) -> None:
        check_settings(self.settings)


class Job(Message, kw_only=True):
    """An update job for one station; signed by the server (``signature``).

    The station acts on a job only before ``deadline`` (server time), and it has
    ``health_timeout_s`` after the switch for its health check to pass; otherwise it rolls
    back by itself and reports ``rolled_back`` with the reason.
    """

    job_id: Uuid
    station_id: StationId
    rollout_id: Uuid | None = None
    kind: JobKind
    issued_at: AwareDatetime
    deadline: AwareDatetime
    health_timeout_s: Annotated[float, msgspec.Meta(ge=10, le=3600)] = 180.0
    release: ReleaseSpec | None = None
    config: ConfigChange | None = None
    target_job_id: Uuid | None = None
    signature: Annotated[bytes, msgspec.Meta(max_length=64)] | None = None

    def __post_init__(self) -> None:
        wanted = {
            "release": self.release is not None,
            "config": self.config is not None,
            "rollback": self.target_job_id is not None,
        }
        if not wanted[self.kind] or sum(wanted.values()) != 1:
            raise ValueError(f"a {self.kind} job carries exactly its own part")


# --- progress: station -> server ------------------------------------------------------------

JobState = Literal[
    "queued",  # received and verified; waiting for its turn (one job at a time)
    "downloading",  # fetching the manifest and files by blocks
    "verifying",  # signature and hashes
    "installing",  # into a new versioned environment, the running one untouched
    "switching",  # the atomic switch and the restart of the units
    "health_check",  # the new release or settings run; waiting for the health check
    "committed",  # health check passed: final
    "rolled_back",  # back on the previous release or settings: final
    "failed",  # never switched (refused, bad signature, download failed...): final
]
FINAL_STATES: frozenset[str] = frozenset({"committed", "rolled_back", "failed"})


class JobProgress(Message, kw_only=True):
    """Where a job stands on a station. ``version`` is what the station runs now."""

    job_id: Uuid
    station_id: StationId
    state: JobState
    reason: Reason | None = None
    version: Version | None = None
    bytes_done: Annotated[int, msgspec.Meta(ge=0)] | None = None
    bytes_total: Annotated[int, msgspec.Meta(ge=0)] | None = None
    station_time: AwareDatetime


# --- file delivery --------------------------------------------------------------------------


class FileRequest(Message, kw_only=True):
    """The station asks for blocks ``first .. first+count-1`` of a file of job ``job_id``.

    ``bitmap`` (optional, ``ceil(count/8)`` bytes, least significant bit first) picks the
    blocks still missing: bit ``i`` set asks for block ``first + i``. Blocks past the end of
    the file are not sent.
    """

    station_id: StationId
    job_id: Uuid
    file_id: FileId
    request_id: RequestId
    block_size: BlockSize = DEFAULT_BLOCK_SIZE
    first: BlockIndex = 0
    count: Annotated[int, msgspec.Meta(ge=1, le=MAX_BLOCKS_PER_REQUEST)] = MAX_BLOCKS_PER_REQUEST
    bitmap: Annotated[bytes, msgspec.Meta(max_length=MAX_BLOCKS_PER_REQUEST // 8)] | None = None

    def __post_init__(self) -> None:
        if self.bitmap is not None and len(self.bitmap) != math.ceil(self.count / 8):
            raise ValueError("`bitmap` must be ceil(count/8) bytes")

    def wanted(self) -> list[int]:
        """The block indexes asked for, in order."""
        if self.bitmap is None:
            return list(range(self.first, self.first + self.count))
        return [self.first + i for i in range(self.count) if self.bitmap[i // 8] >> (i % 8) & 1]


def bitmap_of(missing: set[int], first: int, count: int) -> bytes:
    """The :attr:`FileRequest.bitmap` asking for the ``missing`` blocks in the run."""
    bits = bytearray(math.ceil(count / 8))
    for i in range(count):
        if first + i in missing:
            bits[i // 8] |= 1 << (i % 8)
    return bytes(bits)


def block_count(size: int, block_size: int) -> int:
    """How many blocks a file of ``size`` bytes has (an empty file has none)."""
    return math.ceil(size / block_size)


class FileBlock(Message, kw_only=True, tag="file.block", tag_field="type"):
    """Block ``index`` of a file: bytes ``index*block_size`` onwards, ``file_size`` in all."""

    station_id: StationId
    job_id: Uuid
    file_id: FileId
    request_id: RequestId
    block_size: BlockSize
    index: BlockIndex
    file_size: Annotated[int, msgspec.Meta(ge=0, le=MAX_FILE_SIZE)]
    data: Annotated[bytes, msgspec.Meta(max_length=MAX_BLOCK_SIZE)]


FileRefusalReason = Literal[
    "not_addressed",  # no open job for this station delivers this file
    "unknown_file",  # the server holds no such file
    "budget_exhausted",  # the station fetched too many bytes; ``retry_after_s`` says when
    "quarantined",  # the station is quarantined (sync_server/budgets)
    "bad_request",  # block size or range that makes no sense for this file
]


class FileRefusal(Message, kw_only=True, tag="file.refused", tag_field="type"):
    """The server will not send the blocks asked for; the station's download stops or waits."""

    station_id: StationId
    job_id: Uuid
    file_id: FileId
    request_id: RequestId
    reason: FileRefusalReason
    retry_after_s: Annotated[float, msgspec.Meta(ge=0)] | None = None


#: What arrives on a station's ``file/block`` topic.
FileMessage = FileBlock | FileRefusal


# --- the job signature ----------------------------------------------------------------------


def signed_bytes(fields: dict[str, Any]) -> bytes:
    """What the signature covers: the context and the fields except the signature, sorted."""
    unsigned = {name: value for name, value in fields.items() if name != SIGNATURE_FIELD}
    return CONTEXT + msgspec.json.encode(unsigned, order="sorted")


def sign_job(job: Job, signing_key: Ed25519PrivateKey) -> Job:
    """A copy of ``job`` carrying the server's signature."""
    signature = signing_key.sign(signed_bytes(to_builtins(job)))
    return msgspec.structs.replace(job, signature=signature)


def verify_job(
    payload: bytes, job: Job, *, station_id: str, server_public: Ed25519PublicKey
) -> None:
    """Check that ``job`` (``decode(payload, Job)``) is the server's and for ``station_id``.

    As for commands (``contract/command_seal.py``) the signature is checked over the fields
    as they arrived, so a field added later stays covered. Raises :class:`SealError`.
    """
    if job.signature is None:
        raise SealError("job is not signed")
    if job.station_id != station_id:
        raise SealError("job is addressed to another station")
    fields = msgspec.json.decode(payload)
    try:
        server_public.verify(job.signature, signed_bytes(fields))
    except InvalidSignature:
        raise SealError("job is not signed by the server's key") from None
