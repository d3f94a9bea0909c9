"""The update jobs a station has received and where each stands, kept in its data directory.

It makes a job run at most once (a job redelivered by QoS 1, or sent again when the station
comes back online, is answered with its state, never run twice) and lets a restarted daemon
— the new release's, or the old one's after a rollback — pick up where the last one was:
resume a download, or wait for the installer it handed the job to. Each change is written
atomically and durably (write, fsync, rename), before the step it records.
"""

from __future__ import annotations

import threading
from datetime import datetime, timedelta
from pathlib import Path

import msgspec

from contract.rollout import FINAL_STATES, JobState
from device.atomic_file import write_atomically

#: A settled job is remembered this long past its deadline (a rollback of it may still come).
KEEP_AFTER_DEADLINE = timedelta(days=8)


class JobRecord(msgspec.Struct, kw_only=True):
    """One job as the station knows it."""

    job_id: str
    kind: str
    #: The job exactly as it arrived (its signature verified then); ``None`` for a job only
    #: known because a rollback job named it before it arrived.
    payload: bytes | None = None
    received_at: datetime
    deadline: datetime
    state: JobState = "queued"
    reason: str | None = None
    #: The release or configuration label this job installs (for the logs and the journal).
    version: str | None = None
    #: When the job was handed to the installer process (its journal is newer than this).
    handed_at: datetime | None = None
    #: Where the installer process writes how it ended.
    outcome: str | None = None
    #: A rollback job stopped it (before it was handed over) or undid it.
    cancelled: bool = False

    @property
    def final(self) -> bool:
        return self.state in FINAL_STATES


class JobLog:
    """The station's job records in ``<data_dir>/update/jobs.json``."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()
        try:
            self._records = msgspec.json.decode(self.path.read_bytes(), type=dict[str, JobRecord])
        except (FileNotFoundError, msgspec.DecodeError):
            self._records = {}

    def get(self, job_id: str) -> JobRecord | None:
        with self._lock:
            return self._records.get(job_id)

    def put(self, record: JobRecord) -> None:
        """Store ``record`` durably (a new one, or a change of state)."""
        with self._lock:
            self._records[record.job_id] = record
            self._save()

    def open_records(self) -> list[JobRecord]:
        """Jobs not settled, in the order they arrived."""
        with self._lock:
            pending = [r for r in self._records.values() if not r.final and r.payload]
        return sorted(pending, key=lambda r: r.received_at)

    def forget_old(self, now: datetime) -> None:
        """Drop settled jobs long past their deadline."""
        with self._lock:
            keep = {
                job_id: r
                for job_id, r in self._records.items()
                if not r.final or r.deadline + KEEP_AFTER_DEADLINE > now
            }
            if len(keep) != len(self._records):
                self._records = keep
                self._save()

    def _save(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        write_atomically(self.path, msgspec.json.encode(self._records))
