"""The station's update agent: signed jobs in, progress out, the installer in between.

It runs in the station daemon on the station's one MQTT link (docs/updates.md):

1. A :class:`contract.rollout.Job` arrives on ``job``. It is acted on only if the server's
   key signed it for this station (``verify_job``, the key remote commands are checked with)
   and before its deadline, and only once: the job log (device/update/job_log.py) answers a
   redelivered or resent job with its state and runs nothing again.
2. **release**: the manifest is fetched by blocks and its release-key signature checked
   (``contract.release.verify_manifest``, the key from the signed bundle) before anything
   else is fetched; then every file it names that the cache does not already hold by hash,
   resumable (device/update/download.py); each is checked against its SHA-256. The files are
   put together as the artifact ``dcs-release build`` makes, and handed to the installer
   (``dcs-station update install``) in a process that outlives the daemon's restart
   (device/update/handoff.py). The installer verifies again, installs, switches, restarts,
   health-checks and commits or rolls back; the daemon running afterwards reports
   ``committed`` or ``rolled_back`` with the reason.
3. **config**: the allowlisted settings go to ``dcs-station update configure`` the same way:
   the override is written, the units restarted, the same health check, commit or restore.
4. **rollback**: stops the job it names if it has not been handed over yet, waits for it if
   it has, and reverts it if it committed (``update rollback`` / ``update unconfigure``).

Jobs run one at a time on the agent's thread, in the order they arrived.
"""

from __future__ import annotations

import contextlib
import io
import logging
import platform
import queue
import shutil
import subprocess
import tarfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import msgspec
import paho.mqtt.client as mqtt
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from contract import Channel, decode, encode
from contract.errors import ContractError
from contract.release import (
    MANIFEST_NAME,
    SIGNATURE_NAME,
    ReleaseError,
    ReleaseManifest,
    verify_manifest,
)
from contract.rollout import ConfigChange, Job, JobProgress, JobState, verify_job
from device import DISTRIBUTION, __version__
from device.update.configure import read_config_journal
from device.update.download import Cancelled, DownloadError, Fetcher
from device.update.handoff import Outcome, Services, launch, read_outcome
from device.update.job_log import JobLog, JobRecord
from device.update.journal import read_journal
from device.update.layout import Layout

log = logging.getLogger(__name__)

#: How long a handed-over step may stay silent past its health deadline before it is
#: reported failed (an installer killed with no one to resume it).
HANDOFF_GRACE = timedelta(minutes=30)
#: Journal states of the installer as job progress states.
_INSTALL_STATES: dict[str, JobState] = {
    "download": "verifying",
    "verify": "verifying",
    "install": "installing",
    "switch": "switching",
    "restart": "switching",
    "check": "health_check",
    "rollback": "switching",
}
_CONFIG_STATES: dict[str, JobState] = {
    "apply": "switching",
    "check": "health_check",
    "restore": "switching",
}
_FINAL: dict[str, JobState] = {
    "committed": "committed",
    "rolled-back": "rolled_back",
    "failed": "failed",
}


@dataclass(frozen=True)
class UpdateOptions:
    """What the daemon knows that the installer process needs."""

    config_path: Path
    root: Path
    services: Services = "systemd"
    #: The daemon ran with ``--unsigned-config`` (tests, the demo): the installer does too.
    unsigned_config: bool = False


class UpdateAgent:
    """See the module docstring. :meth:`start` after the link is set up; :meth:`stop`."""

    def __init__(
        self,
        station_id: str,
        publish: Callable[[Channel, bytes], object],
        *,
        data_dir: Path,
        options: UpdateOptions,
        server_key: Ed25519PublicKey | None,
        release_key: Ed25519PublicKey | None,
        kiosk_fitted: bool,
        clock: Callable[[], datetime],
    ) -> None:
        self._thread: threading.Thread | None = None
        self.station_id = station_id
        self._publish = publish
        self.options = options
        self.layout = Layout(options.root)
        self.server_key = server_key
        self.release_key = release_key
        self.kiosk_fitted = kiosk_fitted
        self._clock = clock
        self.dir = Path(data_dir) / "update"
        self.data_dir = Path(data_dir)
        self.jobs = JobLog(self.dir / "jobs.json")
        self.fetcher = Fetcher(station_id, publish)
        self._queue: queue.Queue[str | None] = queue.Queue()
        self._stop = threading.Event()
        self._cancel: dict[str, threading.Event] = {}
        self._current: JobRecord | None = None
        self._child = None  # the installer process under the supervisor (reaped by polling)
        self._last_progress = 0.0

    # -- wiring (network thread) --------------------------------------------------------

    def on_job(self, message: mqtt.MQTTMessage) -> None:
        """A job arrived: verify, remember, queue (or answer with its state if known)."""
        try:
            job = decode(message.payload, Job)
        except ContractError as exc:
            log.warning("ignored a malformed update job: %s", exc)
            return
        if self.server_key is None:
            log.warning("refused update job %s: no server key to verify it with", job.job_id)
            return
        try:
            verify_job(
                message.payload, job, station_id=self.station_id, server_public=self.server_key
            )
        except ContractError as exc:
            log.warning("refused update job %s: %s", job.job_id, exc)
            return
        known = self.jobs.get(job.job_id)
        if known is not None and known.payload is not None:
            self._report(known)  # a resend: its state again, nothing runs twice
            return
        now = self._clock()
        record = JobRecord(
            job_id=job.job_id,
            kind=job.kind,
            payload=bytes(message.payload),
            received_at=now,
            deadline=job.deadline,
            version=job.release.version
            if job.release
            else (job.config.label if job.config else None),
        )
        if known is not None and known.cancelled:  # a rollback job named it before it came
            record.state, record.reason, record.cancelled = "rolled_back", known.reason, True
            self.jobs.put(record)
            self._report(record)
            return
        if job.deadline <= now:
            record.state, record.reason = "failed", "arrived after its deadline"
            self.jobs.put(record)
            self._report(record)
            return
        self.jobs.put(record)
        self._report(record)
        if job.kind == "rollback" and job.target_job_id in self._cancel:
            self._cancel[job.target_job_id].set()  # stop its download now
        self._queue.put(job.job_id)

    def on_block(self, message: mqtt.MQTTMessage) -> None:
        """A file block or refusal arrived."""
        self.fetcher.on_message(message.payload)

    def on_connected(self) -> None:
        """After a reconnect, say again where the current job stands."""
        current = self._current
        if current is not None:
            self._report(current)

    # -- lifecycle ---------------------------------------------------------------------

    def start(self) -> UpdateAgent:
        """Resume what a restart interrupted, then handle jobs as they come."""
        self._stop.clear()
        self.jobs.forget_old(self._clock())
        for record in self.jobs.open_records():
            self._queue.put(record.job_id)
        self._thread = threading.Thread(target=self._run, name="dcs-update", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop the agent's thread (a handed-over step goes on without it); safe twice."""
        self._stop.set()
        for event in self._cancel.values():
            event.set()
        self._queue.put(None)
        if self._thread is not None:
            self._thread.join(10)
            self._thread = None

    def _run(self) -> None:
        while not self._stop.is_set():
            job_id = self._queue.get()
            if job_id is None:
                return
            record = self.jobs.get(job_id)
            if record is None or record.final or record.payload is None:
                continue
            self._current = record
            try:
                self._handle(record, decode(record.payload, Job))
            except Exception as exc:  # keep the agent alive; the job ends failed, reported
                log.exception("update job %s failed", job_id)
                if not self._stop.is_set() and not record.final:
                    self._set(record, "failed", f"{type(exc).__name__}: {exc}"[:200])
            finally:
                self._current = None

    # -- reporting ---------------------------------------------------------------------

    def _report(self, record: JobRecord, **counts: int) -> None:
        progress = JobProgress(
            job_id=record.job_id,
            station_id=self.station_id,
            state=record.state,
            reason=record.reason[:200] if record.reason else None,
            version=__version__,
            station_time=self._clock(),
            **counts,
        )
        self._publish(Channel.JOB_PROGRESS, encode(progress))

    def _set(
        self, record: JobRecord, state: JobState, reason: str | None = None, **counts: int
    ) -> None:
        if record.state == state and record.reason == reason and not counts:
            return
        record.state, record.reason = state, reason
        self.jobs.put(record)
        self._report(record, **counts)
        log.info(
            "update job %s (%s): %s%s",
            record.job_id,
            record.kind,
            state,
            f" ({reason})" if reason else "",
        )

    # -- the jobs ----------------------------------------------------------------------

    def _handle(self, record: JobRecord, job: Job) -> None:
        if record.handed_at is not None:
            self._finish_handoff(record, job)
            return
        if record.deadline <= self._clock():
            self._set(record, "failed", "its deadline passed before it could run")
            return
        if job.kind == "release":
            self._release(record, job)
        elif job.kind == "config":
            self._config(record, job)
        else:
            self._rollback(record, job)

    def _release(self, record: JobRecord, job: Job) -> None:
        assert job.release is not None
        if self.layout.current_version() is None:
            self._set(record, "failed", "this station does not run from a release root")
            return
        if self.layout.current_version() == job.release.version == __version__:
            self._set(record, "committed", "already running this release")
            return
        cancelled = self._cancel.setdefault(job.job_id, threading.Event())
        try:
            artifact = self._download(record, job, cancelled)
        except Cancelled as exc:
            if self._stop.is_set():
                return  # the daemon is stopping: the next one resumes the download
            self._set(record, "rolled_back", str(exc))
            return
        except (DownloadError, ReleaseError) as exc:
            self._set(record, "failed", str(exc))
            return
        finally:
            self._cancel.pop(job.job_id, None)
        self._hand_over(
            record,
            job,
            ["install", "--deadline", f"{job.health_timeout_s:g}", str(artifact)],
        )
        self._finish_handoff(record, job)

    def _download(self, record: JobRecord, job: Job, cancelled: threading.Event) -> Path:
        """Fetch and check the release; returns the artifact put together in ``incoming/``."""
        spec = job.release
        assert spec is not None
        self._set(record, "downloading")
        cache, partial = self.dir / "files", self.dir / "partial"
        manifest_path = self._fetch(
            record, job, spec.manifest.file_id, spec.manifest.size, cancelled
        )
        manifest_bytes = manifest_path.read_bytes()
        manifest = verify_manifest(manifest_bytes, spec.manifest_signature, self.release_key)
        self._check_target(manifest, spec.version)
        total = sum(f.size for f in manifest.files)
        done = sum(f.size for f in manifest.files if (cache / f.sha256).is_file())
        for item in manifest.files:
            if (cache / item.sha256).is_file():
                continue  # already here, by hash: fetched for an earlier release
            before = done
            self.fetcher.fetch(
                job.job_id,
                item.sha256,
                item.size,
                spec.block_size,
                partial,
                cache / item.sha256,
                cancelled=cancelled,
                progress=lambda got, base=before, total=total: self._downloading(
                    record, base + got, total
                ),
            )
            done += item.size
        self._set(record, "verifying", bytes_done=total, bytes_total=total)
        return self._assemble(manifest, manifest_bytes, spec.manifest_signature)

    def _downloading(self, record: JobRecord, done: int, total: int) -> None:
        now = time.monotonic()
        if now - self._last_progress >= 1.0:  # a report a second is enough for a dashboard
            self._last_progress = now
            self._report(record, bytes_done=done, bytes_total=total)

    def _fetch(self, record: JobRecord, job: Job, file_id: str, size: int, cancelled) -> Path:
        target = self.dir / "files" / file_id
        if target.is_file():
            return target
        assert job.release is not None
        return self.fetcher.fetch(
            job.job_id,
            file_id,
            size,
            job.release.block_size,
            self.dir / "partial",
            target,
            cancelled=cancelled,
        )

    def _check_target(self, manifest: ReleaseManifest, version: str) -> None:
        if manifest.version != version:
            raise ReleaseError(f"the job names {version}, its signed manifest {manifest.version}")
        if manifest.package != DISTRIBUTION:
            raise ReleaseError(f"the release is of {manifest.package}, not {DISTRIBUTION}")
        if manifest.arch != platform.machine():
            raise ReleaseError(f"the release is for {manifest.arch}, this is {platform.machine()}")

    def _assemble(self, manifest: ReleaseManifest, manifest_bytes: bytes, signature: bytes) -> Path:
        """The artifact as ``dcs-release build`` writes it: manifest, signature, then wheels."""
        incoming = self.layout.incoming
        incoming.mkdir(parents=True, exist_ok=True)
        artifact = (
            incoming / f"dcs-station-{manifest.version}-{manifest.arch}-py{manifest.python}.tar"
        )
        partial = artifact.with_suffix(".partial")
        with tarfile.open(partial, "w") as tar:
            for name, data in ((MANIFEST_NAME, manifest_bytes), (SIGNATURE_NAME, signature)):
                info = tarfile.TarInfo(name)
                info.size, info.mode = len(data), 0o644
                tar.addfile(info, io.BytesIO(data))
            for item in manifest.files:
                source = self.dir / "files" / item.sha256
                info = tar.gettarinfo(str(source), arcname=item.path)
                info.mode, info.uid, info.gid, info.uname, info.gname = 0o644, 0, 0, "", ""
                with open(source, "rb") as handle:
                    tar.addfile(info, handle)
        partial.replace(artifact)
        return artifact

    def _config(self, record: JobRecord, job: Job) -> None:
        change = job.config
        assert change is not None
        if not self.kiosk_fitted and any(key.startswith("kiosk.") for key in change.settings):
            self._set(record, "failed", "kiosk settings for a station without a kiosk")
            return
        change_file = self.dir / f"{job.job_id}.config.json"
        change_file.parent.mkdir(parents=True, exist_ok=True)
        change_file.write_bytes(
            msgspec.json.encode(ConfigChange(settings=change.settings, label=change.label))
        )
        self._set(record, "installing")
        self._hand_over(
            record,
            job,
            [
                "configure",
                "--deadline",
                f"{job.health_timeout_s:g}",
                "--job-id",
                job.job_id,
                str(change_file),
            ],
        )
        self._finish_handoff(record, job)

    def _rollback(self, record: JobRecord, job: Job) -> None:
        assert job.target_job_id is not None
        target = self.jobs.get(job.target_job_id)
        reason = f"rolled back by the server (job {job.job_id[:8]})"
        if target is None or target.payload is None:
            # Never came: if it comes later, it is answered rolled back and not run.
            self.jobs.put(
                JobRecord(
                    job_id=job.target_job_id,
                    kind="release",
                    received_at=self._clock(),
                    deadline=job.deadline,
                    state="rolled_back",
                    reason=reason,
                    cancelled=True,
                )
            )
            self._set(record, "rolled_back", "the job it names never ran here")
            return
        if not target.final:  # handed over when this arrived: wait for it to end
            self._finish_handoff(target, decode(target.payload, Job))
            if not target.final:
                return  # the daemon is stopping; the next one goes on
        if target.state != "committed" or target.cancelled:
            self._set(record, "rolled_back", f"nothing to undo: the job ended {target.state}")
            return
        target_job = decode(target.payload, Job)
        if target_job.kind == "release":
            if self.layout.current_version() != target.version:
                self._set(
                    record, "rolled_back", f"nothing to undo: {target.version} no longer runs"
                )
                return
            args = ["rollback", "--reason", reason]
        else:
            journal = read_config_journal(self.data_dir)
            if journal is None or journal.job_id != target.job_id or journal.state != "committed":
                self._set(record, "rolled_back", "nothing to undo: a later change replaced it")
                return
            args = ["unconfigure", "--job-id", target.job_id, "--reason", reason]
        record.version = target.version
        self._set(record, "switching")
        self._hand_over(record, job, args)
        self._finish_handoff(record, job)

    # -- handing over to the installer process -----------------------------------------------

    def _hand_over(self, record: JobRecord, job: Job, args: list[str]) -> None:
        outcome = self.dir / f"{job.job_id}.outcome"
        outcome.unlink(missing_ok=True)
        record.handed_at = datetime.now(UTC)
        record.outcome = str(outcome)
        if job.kind == "release":
            record.state = "installing"
        self.jobs.put(record)  # before the process starts: a restart must find it
        self._report(record)
        command = [
            *args[:1],
            "--config",
            str(self.options.config_path),
            "--root",
            str(self.options.root),
        ]
        command += ["--services", self.options.services, "--outcome", str(outcome)]
        if self.options.unsigned_config:
            command.append("--unsigned-config")
        self._child = launch(
            command + args[1:],
            services=self.options.services,
            name=job.job_id[:8],
            log_path=self.dir / f"{job.job_id}.log",
        )

    def _finish_handoff(self, record: JobRecord, job: Job) -> None:
        """Follow the handed-over step until its outcome, then report the final state."""
        give_up = record.handed_at + timedelta(seconds=job.health_timeout_s) + HANDOFF_GRACE
        while not self._stop.is_set():
            outcome = read_outcome(Path(record.outcome)) if record.outcome else None
            if outcome is None and self._child is not None and self._child.poll() is not None:
                code, self._child = self._child.returncode, None
                outcome = read_outcome(Path(record.outcome)) or Outcome(
                    state="failed", reason=f"the installer ended without an outcome (exit {code})"
                )
            if outcome is None and datetime.now(UTC) > give_up:
                outcome = Outcome(state="failed", reason="the installer never reported an outcome")
            if outcome is not None:
                if self._child is not None:  # it writes the outcome last, then exits
                    with contextlib.suppress(subprocess.TimeoutExpired):
                        self._child.wait(60)
                    self._child = None
                self._settle(record, job, outcome)
                return
            state = self._journal_state(record, job)
            if state is not None:
                self._set(record, state)
            self._stop.wait(0.5)

    def _journal_state(self, record: JobRecord, job: Job) -> JobState | None:
        kind = job.kind
        if kind == "rollback" and job.target_job_id is not None:
            target = self.jobs.get(job.target_job_id)
            kind = target.kind if target is not None else kind
        if kind == "config":
            journal = read_config_journal(self.data_dir)
            if journal is None or journal.at < record.handed_at:
                return None
            return _CONFIG_STATES.get(journal.state)
        journal = read_journal(self.layout.journal)
        if journal is None or not journal.history or journal.history[0].at < record.handed_at:
            return None
        return _INSTALL_STATES.get(journal.state)

    def _settle(self, record: JobRecord, job: Job, outcome: Outcome) -> None:
        state = _FINAL.get(outcome.state, "failed")
        # The undone job is reported before the rollback job that undid it: whoever sees the
        # rollback finished then finds the release already marked rolled back. If the daemon
        # dies in between, the rollback job is not final yet and is settled again on restart.
        if job.kind == "rollback" and state == "rolled_back" and job.target_job_id:
            target = self.jobs.get(job.target_job_id)
            if target is not None:
                target.cancelled = True
                self._set(target, "rolled_back", outcome.reason)
        self._set(record, state, outcome.reason)
        if job.kind == "release":
            self._prune()

    def _prune(self) -> None:
        """Keep in the cache the files of the releases still installed; drop partials."""
        shutil.rmtree(self.dir / "partial", ignore_errors=True)
        for stale in self.layout.incoming.glob("*.tar"):
            stale.unlink(missing_ok=True)
        wanted: set[str] = set()
        for manifest in self.layout.releases.glob(f"*/{MANIFEST_NAME}"):
            try:
                parsed = msgspec.json.decode(manifest.read_bytes(), type=ReleaseManifest)
            except (OSError, msgspec.DecodeError):
                continue
            wanted |= {item.sha256 for item in parsed.files}
        for cached in (self.dir / "files").glob("*"):
            if cached.name not in wanted:
                cached.unlink(missing_ok=True)
