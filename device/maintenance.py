"""Station upkeep the server asks for or watches: reboot on command, free disk space."""

from __future__ import annotations

import logging
import shutil
import subprocess
import threading
from pathlib import Path

log = logging.getLogger(__name__)

#: Seconds between answering ``reboot`` and running the command, so the result reaches the
#: broker before the network goes down.
REBOOT_DELAY_S = 3.0


def schedule_reboot(command: list[str], delay_s: float = REBOOT_DELAY_S) -> str:
    """Run ``command`` (``systemctl reboot`` on a kiosk) in ``delay_s`` seconds."""
    if not command:
        raise ValueError("no reboot command is configured")

    def run() -> None:
        log.warning("rebooting on remote command")
        completed = subprocess.run(command, check=False, capture_output=True, timeout=60)
        if completed.returncode != 0:
            log.error("the reboot command exited with %d", completed.returncode)

    timer = threading.Timer(delay_s, run)
    timer.daemon = True
    timer.start()
    return f"reboot in {delay_s:.0f} s"


def disk_gauges(data_dir: str | Path) -> dict[str, float]:
    """Free space of the disk holding the store, in percent and MiB."""
    usage = shutil.disk_usage(Path(data_dir))
    return {
        "disk_free_pct": round(100.0 * usage.free / usage.total, 1),
        "disk_free_mib": round(usage.free / 2**20, 1),
    }
