"""Restarting the station's units and asking whether the daemon is ready.

:class:`ServiceManager` is the one interface the installer uses. :class:`Systemd` is the
production one: the daemon's unit is ``Type=notify``, so systemd calls it *active* only after
the daemon sent READY=1 (device/sdnotify.py). :class:`~device.update.supervisor.Supervised`
implements the same interface over the small process supervisor the tests and the demo run.
"""

from __future__ import annotations

import subprocess
from typing import Protocol

STATION_UNITS = ("dcs-station.service", "dcs-kiosk-browser.service")


class ServiceManager(Protocol):
    """What the installer needs from the init system."""

    def restart(self) -> None:
        """Restart the station's units; they start from ``<root>/current``."""

    def ready(self) -> bool:
        """Whether the daemon started by the last restart has told its manager READY=1."""


class Systemd:
    """The station's units under systemd."""

    def __init__(self, units: tuple[str, ...] = STATION_UNITS) -> None:
        self.units = units

    def restart(self) -> None:
        # --no-block: the health check, not systemctl, decides how long a start may take.
        subprocess.run(["systemctl", "restart", "--no-block", *self.units], check=True)

    def ready(self) -> bool:
        result = subprocess.run(
            ["systemctl", "show", "--property=ActiveState,SubState", self.units[0]],
            capture_output=True,
            text=True,
            check=False,
        )
        return "ActiveState=active" in result.stdout and "SubState=running" in result.stdout
