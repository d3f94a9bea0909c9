"""The watchdog board: a MicroPython board on USB serial that resets the Pi when it hangs.

``firmware/`` runs on the board; the rest is the station's side. See docs/watchdog.md.
"""

from hardware.watchdog.backends import open_watchdog
from hardware.watchdog.config import WatchdogConfig
from hardware.watchdog.link import WatchdogLink
from hardware.watchdog.protocol import BoardInfo, Event, ResetLog, Status

__all__ = [
    "BoardInfo",
    "Event",
    "ResetLog",
    "Status",
    "WatchdogConfig",
    "WatchdogLink",
    "open_watchdog",
]
