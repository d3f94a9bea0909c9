"""Serving file blocks to stations: only files of their own open jobs, within a byte budget.

A station's certificate binds it to its topics (the broker's ACL), but the station itself
is not trusted: it may ask for any file id, any range, as often as it likes. So a request
is answered only if

- the job named is this station's, still open (sent or in flight, before the deadline),
  and its rollout still running or completed (an aborted rollout delivers nothing more);
- the file is the manifest or a file of that job's release;
- the station is not quarantined and within its request budget (``sync_server/budgets``,
  kind ``file``: requests per minute, hour and day);
- the bytes served for this job stay under ``FILE_BYTES_FACTOR`` times the release's size
  (a few complete re-downloads after lost blocks or a replaced SD card, not a stream).

Anything else gets a :class:`contract.rollout.FileRefusal`; nothing is ever sent to
another station's topic, whatever the request says.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from contract.rollout import (
    MAX_BLOCKS_PER_REQUEST,
    FileBlock,
    FileRefusal,
    FileRefusalReason,
    FileRequest,
    block_count,
)
from sync_server.budgets import OverBudgetError, StationBudgets, StationQuarantinedError
from sync_server.budgets.policy import FILE
from sync_server.db import write_transaction
from sync_server.rollouts.jobs import aware
from sync_server.rollouts.models import ReleaseFile, Rollout, RolloutJob
from sync_server.rollouts.store import FileStore, StoreError
from sync_server.rollouts.waves import IN_FLIGHT

#: The budget kind of file requests (``sync_server/budgets/policy.py``).
FILE_BUDGET = FILE
#: Slack on top of the factor: a station may always fetch a small release a few times.
BYTES_SLACK = 1 << 20


@dataclass
class FileServer:
    """Answers :class:`FileRequest` messages with blocks or a refusal."""

    store: FileStore
    budgets: StationBudgets
    bytes_factor: float = 3.0

    def answer(
        self, station_id: str, request: FileRequest, now: datetime
    ) -> list[FileBlock | FileRefusal]:
        """The messages to publish on ``station_id``'s ``file/block`` topic."""

        def refuse(reason: FileRefusalReason, retry_after_s: float | None = None) -> list:
            return [
                FileRefusal(
                    station_id=station_id,
                    job_id=request.job_id,
                    file_id=request.file_id,
                    request_id=request.request_id,
                    reason=reason,
                    retry_after_s=retry_after_s,
                )
            ]

        if request.station_id != station_id:
            return refuse("not_addressed")
        job = RolloutJob.get_or_none(
            (RolloutJob.job_id == request.job_id) & (RolloutJob.station_id == station_id)
        )
        if job is None or job.state not in IN_FLIGHT:
            return refuse("not_addressed")
        rollout: Rollout = job.rollout
        if (
            rollout.state not in ("running", "completed")
            or rollout.release_id is None
            or aware(rollout.deadline) <= now
        ):
            return refuse("not_addressed")
        entry = ReleaseFile.get_or_none(
            (ReleaseFile.release == rollout.release_id) & (ReleaseFile.file_id == request.file_id)
        )
        if entry is None:
            return refuse("not_addressed")
        wanted = [
            index
            for index in request.wanted()
            if index < block_count(entry.size, request.block_size)
        ][:MAX_BLOCKS_PER_REQUEST]
        if not wanted:
            return refuse("bad_request")
        try:
            self.budgets.charge(station_id, [FILE_BUDGET])
        except StationQuarantinedError:
            return refuse("quarantined")
        except OverBudgetError as exc:
            return refuse("budget_exhausted", exc.retry_after_s)
        allowance = self.bytes_factor * rollout.release.total_bytes + BYTES_SLACK
        size = sum(
            min(request.block_size, entry.size - index * request.block_size) for index in wanted
        )
        if job.bytes_served + size > allowance:
            return refuse("budget_exhausted")
        blocks = []
        try:
            for index in wanted:
                blocks.append(
                    FileBlock(
                        station_id=station_id,
                        job_id=job.job_id,
                        file_id=entry.file_id,
                        request_id=request.request_id,
                        block_size=request.block_size,
                        index=index,
                        file_size=entry.size,
                        data=self.store.read_block(entry.file_id, index, request.block_size),
                    )
                )
        except StoreError:
            return refuse("unknown_file")
        with write_transaction():
            RolloutJob.update(bytes_served=RolloutJob.bytes_served + size).where(
                RolloutJob.job_id == job.job_id
            ).execute()
        return blocks
