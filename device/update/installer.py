"""Install a release, switch to it, commit it when healthy, or roll back — durably.

Each step is written to the journal *before* it begins (device/update/journal.py), and the
failpoint ``update.<step>`` (contract/failpoints.py) follows it, so the tests can cut the
power right after any step. :meth:`Installer.resume`, run at every boot before anything else
uses the release (``dcs-station update resume``), reads the journal and makes the station whole:

- interrupted before the switch (download, verify, install): ``current`` was never touched;
  the half-made release is deleted and the update marked failed;
- interrupted after the switch but before the commit: the new release gets one verify-boot —
  restarted and health-checked — and is committed if healthy, rolled back if not; a second
  interruption of that verify-boot rolls back without trying again;
- interrupted during a rollback: the rollback is done again (it is idempotent).
"""

from __future__ import annotations

import fcntl
import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from contract.failpoints import hit
from contract.release import MANIFEST_NAME, SIGNATURE_NAME, ReleaseError
from device.errors import StationError
from device.health import TRIAL_MARKER
from device.update.artifact import read_manifest, unpack_verified
from device.update.health_check import HealthCheck
from device.update.journal import SETTLED, UNCOMMITTED, Journal, read_journal, write_journal
from device.update.layout import COMPLETE, Layout, fsync_directory
from device.update.services import ServiceManager
from device.update.venv import build_venv, find_python


class UpdateError(StationError):
    """The update was refused or failed; the journal says why and what the station runs."""


class Installer:
    """The station's updater over one release root."""

    def __init__(
        self,
        layout: Layout,
        services: ServiceManager,
        health: HealthCheck,
        public_key: Ed25519PublicKey | None,
        *,
        python: str | None = None,
    ) -> None:
        self.layout = layout
        self.services = services
        self.health = health
        self.public_key = public_key
        #: The interpreter for new virtualenvs (default: ``python<manifest.python>`` on PATH).
        self.python = python

    @property
    def trial_marker(self) -> Path:
        return Path(self.health.data_dir) / TRIAL_MARKER

    @contextmanager
    def exclusive(self) -> Iterator[None]:
        """One update at a time (the agent and a technician's CLI may both try)."""
        self.layout.root.mkdir(parents=True, exist_ok=True)
        with open(self.layout.root / "update.lock", "w") as lock:
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raise UpdateError("another update is running") from None
            yield

    def _write(self, journal: Journal, state: str, detail: str = "") -> None:
        journal.advance(state, detail)  # type: ignore[arg-type] - a State literal
        write_journal(self.layout.journal, journal)

    # -- install ---------------------------------------------------------------------------

    def install(self, artifact: Path) -> Journal:
        """Install ``artifact`` and commit it when healthy; returns the final journal."""
        with self.exclusive():
            try:
                manifest = read_manifest(artifact, self.public_key)  # refuse before anything
            except ReleaseError as exc:
                raise UpdateError(f"refused: {exc}") from None
            current = self.layout.current_version()
            if manifest.version == current:
                raise UpdateError(f"{manifest.version} is already the running release")
            journal = Journal(state="download", version=manifest.version, previous=current)
            try:
                self._install_beside(journal, Path(artifact))
            except (ReleaseError, OSError, RuntimeError) as exc:
                self._abandon(journal, f"{journal.state} failed: {exc}")
                raise UpdateError(f"{manifest.version} not installed: {exc}") from None
            return self._switch_and_check(journal)

    def install_first(self, artifact: Path) -> Journal:
        """Install a station's first release (an image build): no daemon runs yet to check."""
        with self.exclusive():
            if self.layout.current_version() is not None:
                raise UpdateError("this station has a release: use install")
            try:
                manifest = read_manifest(artifact, self.public_key)
                journal = Journal(state="download", version=manifest.version)
                self._install_beside(journal, Path(artifact))
            except (ReleaseError, OSError, RuntimeError) as exc:
                raise UpdateError(f"not installed: {exc}") from None
            self._write(journal, "switch", "first release")
            self.layout.switch(journal.version)
            self._write(journal, "committed", "first release")
            shutil.rmtree(self.layout.incoming, ignore_errors=True)
            return journal

    def _install_beside(self, journal: Journal, artifact: Path) -> None:
        layout = self.layout
        self._write(journal, "download", artifact.name)
        layout.incoming.mkdir(parents=True, exist_ok=True)
        local = layout.incoming / artifact.name
        if artifact.resolve() != local.resolve():
            shutil.copyfile(artifact, local)
        hit("update.download")
        self._write(journal, "verify")
        manifest = unpack_verified(local, self.public_key, layout.staging)
        hit("update.verify")
        self._write(journal, "install")
        target = layout.release(manifest.version)
        kept = target / MANIFEST_NAME
        if (
            layout.is_complete(manifest.version)
            and kept.read_bytes() == (layout.staging / MANIFEST_NAME).read_bytes()
        ):
            # The very release is still installed (the one kept for rollback): reuse it.
            shutil.rmtree(layout.staging, ignore_errors=True)
            hit("update.install")
            return
        if manifest.version == layout.current_version():
            raise ReleaseError(f"{manifest.version} runs now and differs from this artifact")
        shutil.rmtree(target, ignore_errors=True)  # a half-made one from an earlier attempt
        target.mkdir(parents=True)
        build_venv(
            self.python or find_python(manifest.python), layout.staging, manifest, target / "venv"
        )
        for name in (MANIFEST_NAME, SIGNATURE_NAME):
            shutil.copyfile(layout.staging / name, target / name)
        with open(target / COMPLETE, "w") as marker:  # last: the release is whole
            marker.write(datetime.now(UTC).isoformat())
            marker.flush()
            os.fsync(marker.fileno())
        fsync_directory(target)
        shutil.rmtree(layout.staging, ignore_errors=True)
        hit("update.install")

    def _abandon(self, journal: Journal, reason: str) -> None:
        """Nothing was switched: delete what was made and record why."""
        if journal.version != self.layout.current_version():
            shutil.rmtree(self.layout.release(journal.version), ignore_errors=True)
        shutil.rmtree(self.layout.staging, ignore_errors=True)
        journal.reason = reason
        self._write(journal, "failed", reason)

    def _switch_and_check(self, journal: Journal) -> Journal:
        self._write(journal, "switch", f"from {journal.previous}")
        self.layout.switch(journal.version)
        hit("update.switch")
        return self._restart_and_check(journal)

    def _restart_and_check(self, journal: Journal) -> Journal:
        self._write(journal, "restart")
        self.trial_marker.parent.mkdir(parents=True, exist_ok=True)
        self.trial_marker.write_text(journal.version)
        since = datetime.now(UTC)
        self.services.restart()
        hit("update.restart")
        self._write(journal, "check", f"deadline {self.health.deadline_s:.0f} s")
        reason = self.health.wait(journal.version, since)
        if reason is not None:
            return self._rollback(journal, reason)
        hit("update.commit")
        journal.reason = None
        self._write(journal, "committed")
        self.trial_marker.unlink(missing_ok=True)
        self.layout.prune(keep=(journal.version, journal.previous))
        shutil.rmtree(self.layout.incoming, ignore_errors=True)
        return journal

    # -- rollback --------------------------------------------------------------------------

    def _rollback(self, journal: Journal, reason: str) -> Journal:
        if journal.previous is None or not self.layout.is_complete(journal.previous):
            journal.reason = f"{reason}; no previous release to return to"
            self._write(journal, "failed", journal.reason)
            return journal
        journal.reason = reason
        self._write(journal, "rollback", reason)
        self.trial_marker.unlink(missing_ok=True)
        self.layout.switch(journal.previous)
        hit("update.rollback")
        self.services.restart()
        if journal.version != journal.previous:
            self.layout.remove(journal.version)
        self._write(journal, "rolled-back", reason)
        return journal

    def rollback(self, reason: str = "rolled back by hand") -> Journal:
        """Go back to the release before the current one (``dcs-station update rollback``)."""
        with self.exclusive():
            current = self.layout.current_version()
            others = [v for v in self.layout.installed() if v != current]
            if current is None or not others:
                raise UpdateError("there is no other release to roll back to")
            journal = Journal(state="rollback", version=current, previous=others[-1])
            return self._rollback(journal, reason)

    # -- boot ------------------------------------------------------------------------------

    def resume(self) -> Journal | None:
        """Finish or undo an update a power cut interrupted; ``None`` if none ever ran."""
        with self.exclusive():
            journal = read_journal(self.layout.journal)
            if journal is None or journal.state in SETTLED:
                shutil.rmtree(self.layout.staging, ignore_errors=True)
                return journal
            if journal.state in ("download", "verify", "install"):
                self._abandon(journal, f"interrupted during {journal.state}")
                return journal
            if journal.state in UNCOMMITTED:
                if journal.trial_boots >= 1:
                    return self._rollback(
                        journal, "interrupted again during its verify-boot: not proven healthy"
                    )
                journal.trial_boots += 1
                self._write(
                    journal, "switch", f"verify-boot after an interruption at {journal.state}"
                )
                self.layout.switch(journal.version)
                return self._restart_and_check(journal)
            return self._rollback(journal, journal.reason or "interrupted during a rollback")
