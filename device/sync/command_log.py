"""The ids of the commands a station has run, kept until they expire.

A signed command cannot be forged, but it can be captured and published again: a ``reboot``
replayed at every boot would keep a kiosk down until the command expires. A command whose id
is here is not run again. The file is written before the command runs (a reboot must find it
there afterwards) and forgets each id once its command has expired, when a replay is refused
as expired anyway.
"""

from __future__ import annotations

import logging
import os
import threading
from datetime import datetime
from pathlib import Path

import msgspec

log = logging.getLogger(__name__)

_RunIds = dict[str, datetime]


class CommandLog:
    """Ids of the commands already run, with their expiry; in memory if ``path`` is None."""

    def __init__(self, path: Path | None = None) -> None:
        self._path = path
        self._lock = threading.Lock()
        self._run: _RunIds = self._load()

    def _load(self) -> _RunIds:
        if self._path is None or not self._path.exists():
            return {}
        try:
            return msgspec.json.decode(self._path.read_bytes(), type=_RunIds)
        except (OSError, msgspec.DecodeError) as exc:
            # Refusing every command over a damaged file would be worse than a replay window.
            log.error("cannot read %s (%s): starting an empty command log", self._path, exc)
            return {}

    def first_run(self, command_id: str, expires_at: datetime, now: datetime) -> bool:
        """Note ``command_id`` as run; ``False`` if it already was (a replay or redelivery)."""
        with self._lock:
            self._run = {cid: until for cid, until in self._run.items() if until > now}
            if command_id in self._run:
                return False
            self._run[command_id] = expires_at
            self._save()
            return True

    def _save(self) -> None:
        if self._path is None:
            return
        self._path.parent.mkdir(parents=True, exist_ok=True)
        partial = self._path.with_suffix(".partial")
        with open(partial, "wb") as handle:
            handle.write(msgspec.json.encode(self._run))
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(partial, self._path)
