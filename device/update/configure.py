"""Apply a remote configuration change like a release: restart, health check, commit or restore.

The change (allowlisted settings, verified by the agent as part of a signed ``config`` job)
is laid over the override already in force and written to ``<data_dir>/config-override.json``
(device/config_override.py), which ``load_config`` reads. The units are restarted with the
trial marker, so the daemon runs its self-test, and the same health check as a release's
decides (READY, the running version, self-test, broker, sync progress, outbox draining).
Not healthy within the deadline: the previous override is restored, the units restarted,
and the change is reported rolled back with the reason.

``<data_dir>/config-journal.json`` records where the change stands, written before each
step, so :meth:`ConfigUpdater.resume` at boot restores the previous settings after a power
cut between the write and the commit, and a rollback job knows what to restore.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

import msgspec

from contract.rollout import ConfigChange
from device import __version__
from device.atomic_file import write_atomically
from device.config_override import merged, read_override, write_override
from device.health import TRIAL_MARKER
from device.update.installer import Installer, UpdateError

ConfigState = Literal["apply", "check", "committed", "restore", "rolled-back"]
JOURNAL_FILE = "config-journal.json"


class ConfigJournal(msgspec.Struct, kw_only=True):
    """The latest configuration change on this station."""

    state: ConfigState
    label: str
    job_id: str | None = None
    #: The override before the change (``None``: there was none): what a rollback restores.
    previous: ConfigChange | None = None
    reason: str | None = None
    at: datetime


def read_config_journal(data_dir: Path) -> ConfigJournal | None:
    """The journal of the latest configuration change, if any."""
    try:
        return msgspec.json.decode((Path(data_dir) / JOURNAL_FILE).read_bytes(), type=ConfigJournal)
    except (FileNotFoundError, msgspec.DecodeError):
        return None


class ConfigUpdater:
    """Applies and reverts configuration changes through the installer's services and check."""

    def __init__(self, installer: Installer, data_dir: Path) -> None:
        self.installer = installer
        self.data_dir = Path(data_dir)

    def _write(self, journal: ConfigJournal, state: ConfigState, reason: str | None = None) -> None:
        journal.state = state
        journal.reason = reason
        journal.at = datetime.now(UTC)
        write_atomically(self.data_dir / JOURNAL_FILE, msgspec.json.encode(journal))

    def _running_version(self) -> str:
        return self.installer.layout.current_version() or __version__

    def apply(self, change: ConfigChange, job_id: str | None = None) -> ConfigJournal:
        """Put ``change`` in force and keep it only if the station proves healthy."""
        with self.installer.exclusive():
            previous = read_override(self.data_dir)
            journal = ConfigJournal(
                state="apply",
                label=change.label,
                job_id=job_id,
                previous=previous,
                at=datetime.now(UTC),
            )
            self._write(journal, "apply")
            write_override(self.data_dir, merged(previous, change))
            trial = self.data_dir / TRIAL_MARKER
            trial.write_text(change.label)
            since = datetime.now(UTC)
            self.installer.services.restart()
            self._write(journal, "check")
            reason = self.installer.health.wait(self._running_version(), since)
            trial.unlink(missing_ok=True)
            if reason is None:
                self._write(journal, "committed")
                return journal
            return self._restore(journal, reason)

    def _restore(self, journal: ConfigJournal, reason: str) -> ConfigJournal:
        self._write(journal, "restore", reason)
        (self.data_dir / TRIAL_MARKER).unlink(missing_ok=True)
        write_override(self.data_dir, journal.previous)
        self.installer.services.restart()
        self._write(journal, "rolled-back", reason)
        return journal

    def revert(self, job_id: str, reason: str) -> ConfigJournal:
        """Undo the committed change of job ``job_id`` (a rollback job from the server)."""
        with self.installer.exclusive():
            journal = read_config_journal(self.data_dir)
            if journal is None or journal.job_id != job_id or journal.state != "committed":
                raise UpdateError("that configuration change is not the one in force")
            return self._restore(journal, reason)

    def resume(self) -> ConfigJournal | None:
        """At boot: a change cut off before its commit is undone."""
        with self.installer.exclusive():
            journal = read_config_journal(self.data_dir)
            if journal is None or journal.state in ("committed", "rolled-back"):
                return journal
            return self._restore(journal, journal.reason or f"interrupted during {journal.state}")
