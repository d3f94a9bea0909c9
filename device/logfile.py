"""The daemon's own log file, so diagnostics can send its last lines.

Under systemd the daemon's stderr goes to the journal as well; this bounded file (a few MiB,
rotated) is what a diagnostics bundle reads its tail from, whether the bundle is made by
the daemon itself (a remote command) or by ``dcs-station diagnostics`` on site. The project
keeps personal data out of logs; a bundle still passes every line through a redactor.
"""

from __future__ import annotations

import logging
import logging.handlers
from collections import deque
from pathlib import Path

LOG_FORMAT = "%(asctime)s %(name)s %(levelname)s %(message)s"
MAX_BYTES = 1024 * 1024
BACKUPS = 2


def log_path(data_dir: str | Path) -> Path:
    """Where the daemon writes its log file."""
    return Path(data_dir) / "log" / "station.log"


def attach_log_file(data_dir: str | Path, level: int = logging.INFO) -> logging.Handler:
    """Log to :func:`log_path` too (rotated at 1 MiB, two old files kept); returns the handler."""
    path = log_path(data_dir)
    path.parent.mkdir(parents=True, exist_ok=True)
    handler = logging.handlers.RotatingFileHandler(
        path, maxBytes=MAX_BYTES, backupCount=BACKUPS, encoding="utf-8"
    )
    handler.setFormatter(logging.Formatter(LOG_FORMAT))
    handler.setLevel(level)
    logging.getLogger().addHandler(handler)
    return handler


def tail(data_dir: str | Path, lines: int) -> list[str]:
    """The last ``lines`` lines of the log (the rotated file first when needed); [] if none."""
    path = log_path(data_dir)
    kept: deque[str] = deque(maxlen=max(lines, 0))
    for candidate in (path.with_name(path.name + ".1"), path):
        try:
            with candidate.open(encoding="utf-8", errors="replace") as handle:
                for line in handle:
                    kept.append(line.rstrip("\n"))
        except FileNotFoundError:
            continue
    return list(kept)
