"""The watchdog link's configuration."""

from __future__ import annotations

import msgspec

from hardware.exc import HardwareConfigError

# Mirrors the firmware's accepted ARM range (watchdog_logic.MIN_TIMEOUT_S / MAX_TIMEOUT_S).
MIN_TIMEOUT_S = 1
MAX_TIMEOUT_S = 86400


class WatchdogConfig(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """How the station reaches its watchdog board and how tightly it is watched.

    ``timeout_s`` is what the board waits, once armed, after the last heartbeat before it
    pulses the Pi's reset line; the station beats every ``heartbeat_interval_s``.
    """

    #: ``real`` or ``virtual``; None defers to ``STATION_WATCHDOG_BACKEND``, then real→virtual.
    backend: str | None = None
    device: str = "/dev/ttyACM0"
    #: Ignored by USB CDC (the Pico), used when the board sits on a real UART.
    baud: int = 115200
    timeout_s: int = 60
    heartbeat_interval_s: float = 10.0
    #: A hang guard for each command's reply, not a performance target.
    reply_timeout_s: float = 2.0

    def __post_init__(self) -> None:
        if not self.device:
            raise HardwareConfigError("watchdog device must not be empty")
        if self.baud <= 0:
            raise HardwareConfigError(f"watchdog baud must be positive, not {self.baud}")
        if not MIN_TIMEOUT_S <= self.timeout_s <= MAX_TIMEOUT_S:
            raise HardwareConfigError(
                f"watchdog timeout_s must be {MIN_TIMEOUT_S}..{MAX_TIMEOUT_S}, not {self.timeout_s}"
            )
        # One late or lost heartbeat must never be enough to reset a healthy station.
        if not 0 < self.heartbeat_interval_s * 2 <= self.timeout_s:
            raise HardwareConfigError(
                f"watchdog heartbeat_interval_s ({self.heartbeat_interval_s}) must be positive"
                f" and at most half of timeout_s ({self.timeout_s})"
            )
        if self.reply_timeout_s <= 0:
            raise HardwareConfigError("watchdog reply_timeout_s must be positive")
