"""The update journal: where an update stands, written before each step (fsync, rename).

A power cut leaves the journal at the last step that *began*; ``resume`` reads it at boot and
decides what the interrupted step means (device/update/installer.py).
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

import msgspec

from device.atomic_file import write_atomically

State = Literal[
    "download",  # the artifact is being copied or downloaded into incoming/
    "verify",  # signature and hashes are being checked into staging/
    "install",  # the new virtualenv is being built
    "switch",  # `current` is being (or was) pointed at the new release
    "restart",  # the units are restarting on the new release
    "check",  # waiting for the health check
    "committed",  # the new release is the station's release
    "rollback",  # switching back to the previous release
    "rolled-back",  # the previous release runs again; `reason` says why
    "failed",  # refused or failed before the switch: nothing changed; `reason` says why
]

#: States in which `current` may point at a release that was never found healthy.
UNCOMMITTED = frozenset({"switch", "restart", "check"})
#: States after which nothing is left to do.
SETTLED = frozenset({"committed", "rolled-back", "failed"})


class Step(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """One line of the update's history."""

    state: State
    at: datetime
    detail: str = ""


class Journal(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """The state of the latest update."""

    state: State
    #: The release being installed.
    version: str
    #: The release `current` pointed at before (what a rollback returns to), if any.
    previous: str | None = None
    #: Boots of the new release not yet found healthy (resume allows one).
    trial_boots: int = 0
    reason: str | None = None
    history: list[Step] = msgspec.field(default_factory=list)

    def advance(self, state: State, detail: str = "") -> Journal:
        """Move to ``state``, adding it to the history (the caller writes the journal)."""
        self.state = state
        self.history.append(Step(state, datetime.now(UTC), detail))
        return self


def read_journal(path: Path) -> Journal | None:
    """The journal, or ``None`` when no update ever ran."""
    try:
        return msgspec.json.decode(Path(path).read_bytes(), type=Journal)
    except FileNotFoundError:
        return None


def write_journal(path: Path, journal: Journal) -> None:
    """Durably replace the journal (write, fsync, rename, fsync the directory)."""
    write_atomically(Path(path), msgspec.json.encode(journal))
