"""The kiosk's "out of service" switch, set by the ``lock`` and ``unlock`` remote commands.

A file in the station's data directory, so a locked kiosk stays locked across a restart
(operations locked it for a reason: a broken screen, a tampered enclosure, maintenance).
"""

from __future__ import annotations

import logging
from pathlib import Path

log = logging.getLogger(__name__)


class ServiceLock:
    """Whether the kiosk serves residents; the reason shown to operations only."""

    def __init__(self, data_dir: str | Path) -> None:
        self._path = Path(data_dir) / "out-of-service"

    @property
    def locked(self) -> bool:
        """True while the kiosk shows the out-of-service screen."""
        return self._path.exists()

    def lock(self, reason: str = "") -> str:
        """Take the kiosk out of service; returns the command's detail."""
        self._path.parent.mkdir(parents=True, exist_ok=True)
        self._path.write_text(reason[:200])
        log.warning("kiosk taken out of service")
        return "kiosk locked: out of service"

    def unlock(self) -> str:
        """Put the kiosk back in service."""
        self._path.unlink(missing_ok=True)
        log.info("kiosk back in service")
        return "kiosk unlocked: in service"
