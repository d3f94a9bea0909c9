"""Station configuration: a TOML file validated into typed settings."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Annotated, Literal

import msgspec

from contract.identifiers import PETITION_SERIAL_MAX
from contract.local_time import LocalTime
from contract.topics import STATION_ID_PATTERN
from contract.transport import BrokerSettings
from device.config_override import apply_override
from device.errors import ConfigError
from hardware.card.config import CardConfig
from hardware.gpio.config import GpioConfig, check_pin_map
from hardware.printer.config import PrinterConfig
from hardware.watchdog.config import WatchdogConfig

Positive = Annotated[float, msgspec.Meta(gt=0)]


class BrokerConfig(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """How the station reaches the broker."""

    host: str = "127.0.0.1"
    port: Annotated[int, msgspec.Meta(ge=1, le=65535)] = 1883
    username: str | None = None  # defaults to the station id
    password_file: str | None = None  # relative to secrets_dir
    ca_file: str | None = None
    cert_file: str | None = None
    key_file: str | None = None


class SyncConfig(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """Tuning of the sync agent; the defaults suit a lobby station."""

    # Unacked transactions in flight. 1024 keeps the ingest worker busy while acks travel
    # back (256 left it idle a third of the time: bench/sync.py); a fleet's burst after an
    # outage is then up to window x stations messages queued in the broker (BrokerLimits).
    window: Annotated[int, msgspec.Meta(ge=1, le=10_000)] = 1024
    #: Transactions per MQTT message at most (contract/batch.py); the 64 KiB payload limit
    #: cuts a batch first (about 100 petitions). 1 sends one message per transaction, as
    #: stations before batching did: for a server of an older release.
    batch: Annotated[int, msgspec.Meta(ge=1, le=500)] = 200
    #: Without the server's ack in this long a transaction is published again (then
    #: doubling up to ack_timeout_max_s). Past a city-wide outage the server needs a minute
    #: or more to apply every station's backlog; 15 s made each station send its backlog
    #: three to four times over, and the copies tripled the server's work (bench/city.py:
    #: 897,180 copies of 300,000). A copy is only needed when the broker lost the message,
    #: which is rare, so a minute's wait then costs little.
    ack_timeout_s: Positive = 60.0
    ack_timeout_max_s: Positive = 300.0
    reconnect_initial_s: Positive = 0.5
    reconnect_max_s: Positive = 30.0
    #: The first reconnect after a lost link waits reconnect_initial_s plus 0 to this many
    #: seconds: a broker restart drops the whole fleet at once, and this spreads its return
    #: (bench/city.py: 5,000 stations), after the server's workers are back (backoff.py).
    #: Later attempts back off from reconnect_initial_s as before.
    reconnect_spread_s: Annotated[float, msgspec.Meta(ge=0, le=300)] = 3.0
    heartbeat_interval_s: Positive = 30.0
    #: How long a live request (lookup, code, tracking) waits for the server's answer before
    #: the kiosk says the server cannot be reached.
    lookup_timeout_s: Positive = 5.0
    #: MQTT keepalive towards the broker. paho pings after this long without traffic and drops
    #: the link when the ping goes unanswered for as long again, so a dead link (network cut,
    #: frozen broker) is noticed within 1-2 x this, and the kiosk's label turns "offline". The
    #: broker drops a silent station after 1.5 x this. 3 s: about 0.3 ping a second per idle
    #: station (docs/kiosk.md "Network honesty").
    keepalive_s: Annotated[int, msgspec.Meta(ge=1, le=300)] = 3
    retention_days: Annotated[float, msgspec.Meta(ge=0)] = 7.0
    poll_interval_s: Positive = 0.5


class ReplicaConfig(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """The station's replica of the records of the residents it serves (device/replica/)."""

    #: The scope: the building whose residents this station serves (as enrolled on the server).
    building: Annotated[str, msgspec.Meta(pattern=r"^[a-z0-9][a-z0-9-]{0,62}[a-z0-9]$")]
    #: The server's Ed25519 replica key, base64 (``dcs-server replica server-key``).
    server_public_key: Annotated[str, msgspec.Meta(min_length=44, max_length=44)]
    #: The station's X25519 private key, relative to secrets_dir; made on first use.
    key_file: str = "replica.key"


class KioskConfig(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """The kiosk web app the daemon serves to the station's Chromium (device/kiosk/)."""

    #: Loopback only: the kiosk shows personal data and has no login of its own.
    host: Annotated[
        str, msgspec.Meta(pattern=r"^(127\.[0-9]{1,3}\.[0-9]{1,3}\.[0-9]{1,3}|::1)$")
    ] = "127.0.0.1"
    port: Annotated[int, msgspec.Meta(ge=0, le=65535)] = 8080  # 0: any free port
    #: The Host names the kiosk answers to, on its own port (``host`` is always one of
    #: them); any other Host header gets 400, so a DNS-rebinding page cannot reach it.
    allowed_hosts: list[
        Annotated[str, msgspec.Meta(pattern=r"^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+)$")]
    ] = msgspec.field(default_factory=lambda: ["127.0.0.1", "localhost", "[::1]"])
    #: Personal data leaves the screen after this long without a tap...
    idle_timeout_s: Annotated[float, msgspec.Meta(ge=10, le=3600)] = 90.0
    #: ...counting down visibly for the last this many seconds (one tap extends).
    countdown_s: Annotated[float, msgspec.Meta(ge=3, le=120)] = 20.0
    default_language: Literal["th", "vi", "en"] = "th"
    #: Read a temporary password aloud through the headphone jack (espeak-ng) on request.
    read_aloud: bool = True
    #: A staffed counter: an officer logs in before residents are served (seed 003).
    counter_mode: bool = False
    #: "Listen" on every screen speaks its heading and main instruction (espeak-ng).
    guidance: bool = True
    #: Write the spoken guidance into WAV files in this directory instead of the audio out
    #: (a station without a sound card; tests). None: the audio out.
    guidance_wav_dir: str | None = None
    #: Seed 002's other channels for an error in one's population data, listed beside the
    #: correction request: the hotline's number and the e-ID app's name (the seed's own).
    correction_hotline: Annotated[str, msgspec.Meta(pattern=r"^[0-9-]{3,20}$")] = "0693187111"
    eid_app: Annotated[str, msgspec.Meta(min_length=1, max_length=40)] = "VNeID"


class StationConfig(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """Everything a station needs to run."""

    station_id: Annotated[str, msgspec.Meta(pattern=STATION_ID_PATTERN)]
    data_dir: str
    secrets_dir: str
    #: The public tracking page a receipt's QR code points at; ``{number}`` is the petition.
    tracking_url: str = "https://dcs.example.invalid/track?number={number}"
    #: The deployment's time zone and calendar: every time and date the kiosk and its
    #: receipts show (contract/local_time.py). The server's TIMEZONE/CALENDAR must match.
    local_time: LocalTime = msgspec.field(default_factory=LocalTime)
    broker: BrokerConfig = msgspec.field(default_factory=BrokerConfig)
    sync: SyncConfig = msgspec.field(default_factory=SyncConfig)
    # The devices fitted to this station; a missing section means "not fitted" (a test
    # station, a server-side tool). A kiosk config names every backend outright, so a missing
    # device is an error rather than a quiet fall back to a virtual one.
    card: CardConfig | None = None
    printer: PrinterConfig | None = None
    gpio: GpioConfig | None = None
    watchdog: WatchdogConfig | None = None
    replica: ReplicaConfig | None = None  # None: no replica, lookups need the server
    #: The server's Ed25519 key, base64 (``dcs-server replica server-key``): remote commands
    #: run only if signed with it. Unset, ``replica.server_public_key`` is used (the same
    #: key); with neither, the station refuses every command.
    server_public_key: Annotated[str, msgspec.Meta(min_length=44, max_length=44)] | None = None
    kiosk: KioskConfig | None = None  # None: no touchscreen (a headless test station)
    #: The district the station stands in: it shows the public notices published for it
    #: (contract/notices.py); its building is ``replica.building``. None: no district's.
    district: Annotated[str, msgspec.Meta(pattern=r"^[a-z0-9][a-z0-9-]{0,62}[a-z0-9]$")] | None = (
        None
    )
    #: The fleet's Ed25519 release key, base64 (``dcs-release keygen``): software updates
    #: install only if signed with it. Unset, the station refuses every release.
    release_public_key: Annotated[str, msgspec.Meta(min_length=44, max_length=44)] | None = None
    #: The highest petition serial the server had applied for this station id when this card
    #: was provisioned as a replacement (``dcs-provision station replace``): numbering goes on
    #: above it, so a new card never mints a number the server already holds.
    petition_floor: Annotated[int, msgspec.Meta(ge=0, le=PETITION_SERIAL_MAX)] = 0
    #: What the ``reboot`` remote command runs (after answering); the demo records instead.
    reboot_command: list[str] = msgspec.field(default_factory=lambda: ["systemctl", "reboot"])

    @property
    def command_key_text(self) -> str | None:
        """The key remote commands are verified with: ours, else the replica's, else none."""
        if self.server_public_key is not None:
            return self.server_public_key
        return self.replica.server_public_key if self.replica is not None else None

    @property
    def store_path(self) -> Path:
        """The SQLite file of the station store."""
        return Path(self.data_dir) / "store.sqlite3"

    @property
    def store_key_path(self) -> Path:
        """The AES key of the store, kept outside the data directory."""
        return Path(self.secrets_dir) / "store.key"

    def broker_settings(self) -> BrokerSettings:
        """Connection settings with the password read from the secrets directory."""
        password = None
        if self.broker.password_file:
            path = Path(self.secrets_dir) / self.broker.password_file
            try:
                password = path.read_text().strip()
            except OSError as exc:
                raise ConfigError(f"cannot read broker password {path}: {exc.strerror}") from None

        def secret(name: str | None) -> Path | None:
            return Path(self.secrets_dir) / name if name else None

        return BrokerSettings(
            host=self.broker.host,
            port=self.broker.port,
            username=self.broker.username or self.station_id,
            password=password,
            ca_file=secret(self.broker.ca_file),
            cert_file=secret(self.broker.cert_file),
            key_file=secret(self.broker.key_file),
        )


def config_from_dict(data: dict) -> StationConfig:
    """Validate a mapping into a :class:`StationConfig`; errors name the field."""
    try:
        config = msgspec.convert(data, StationConfig)
        if config.gpio is not None:
            check_pin_map(config.gpio.pins)
    except (msgspec.ValidationError, ValueError) as exc:
        raise ConfigError(f"invalid station config: {exc}") from None
    return config


def load_config(path: Path) -> StationConfig:
    """Read and validate a station's TOML config file, with its remote override laid over it.

    The override (``<data_dir>/config-override.json``, device/config_override.py) holds the
    allowlisted settings a signed ``config`` job changed.
    """
    try:
        with open(path, "rb") as handle:
            data = tomllib.load(handle)
    except OSError as exc:
        raise ConfigError(f"cannot read station config {path}: {exc.strerror}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"station config {path} is not valid TOML: {exc}") from None
    return config_from_dict(apply_override(data))
