"""systemd's notify protocol: READY, WATCHDOG and STOPPING to ``$NOTIFY_SOCKET``.

The unit runs the daemon with ``Type=notify`` and ``WatchdogSec=``: systemd starts the kiosk
browser only once the station is ready, and restarts the daemon when it stops sending
WATCHDOG=1 — which it sends only while the sync loop makes progress, so a hung loop is
restarted even though the process is alive. Outside systemd (no ``$NOTIFY_SOCKET``) every
call does nothing.
"""

from __future__ import annotations

import logging
import os
import socket

log = logging.getLogger(__name__)


class SystemdNotifier:
    """Sends state lines to systemd over the unix datagram socket it named."""

    def __init__(self, address: str | None = None) -> None:
        address = address if address is not None else os.environ.get("NOTIFY_SOCKET", "")
        if address.startswith("@"):  # an abstract socket
            address = "\0" + address[1:]
        self._address = address or None

    @property
    def enabled(self) -> bool:
        """Whether systemd is listening."""
        return self._address is not None

    def notify(self, state: str) -> bool:
        """Send ``state`` (e.g. ``READY=1``); ``False`` when not under systemd or it failed."""
        if self._address is None:
            return False
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
                sock.connect(self._address)
                sock.sendall(state.encode())
        except OSError as exc:
            log.warning("systemd notification failed: %s", exc)
            return False
        return True

    def ready(self, status: str = "") -> bool:
        """The daemon is up: the store is open and the sync agent runs."""
        return self.notify("READY=1" + (f"\nSTATUS={status}" if status else ""))

    def watchdog(self) -> bool:
        """The loop made progress since the last call."""
        return self.notify("WATCHDOG=1")

    def stopping(self) -> bool:
        """A clean stop has begun (not a hang)."""
        return self.notify("STOPPING=1")
