"""Workers' heartbeats: a row per worker process, refreshed every ``WORKER_BEAT_S`` from the
worker's own loop (a loop that is stuck stops beating, a thread of its own would not)."""

from __future__ import annotations

import contextlib
import os
import socket
from collections.abc import Callable
from datetime import datetime, timedelta

import peewee

from sync_server.db import database, utc_now, write_transaction
from sync_server.ops.models import WorkerHeartbeat

#: The workers readiness expects by default: the ingest, the alarm rules (the dashboard's
#: worker, which also probes the broker), the SMS outbox and the notification outbox.
WORKER_KINDS = ("ingest", "alarms", "sms", "notify")
DEFAULT_BEAT_S = 10.0


def beat(worker: str, now: datetime | None = None, *, started_at: datetime | None = None) -> None:
    """Record that ``worker`` (``kind`` or ``kind:id``) is alive now."""
    now = now or utc_now()
    kind = worker.partition(":")[0]
    values = {
        "kind": kind,
        "beat_at": now,
        "host": socket.gethostname()[:64],
        "pid": os.getpid(),
    }
    with write_transaction():
        WorkerHeartbeat.insert(worker=worker, started_at=started_at or now, **values).on_conflict(
            conflict_target=[WorkerHeartbeat.worker],
            update={getattr(WorkerHeartbeat, key): value for key, value in values.items()},
        ).execute()


class Beater:
    """Calls :func:`beat` for one worker at most every ``interval_s``; never raises a
    database error into the worker's loop (a missed beat is what readiness is for)."""

    def __init__(
        self,
        worker: str,
        interval_s: float = DEFAULT_BEAT_S,
        *,
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        self.worker = worker
        self.interval = timedelta(seconds=interval_s)
        self._clock = clock
        self._last: datetime | None = None
        self._started = clock()

    def __call__(self) -> bool:
        """Beat if the last one is older than the interval; whether it wrote."""
        now = self._clock()
        if self._last is not None and now - self._last < self.interval:
            return False
        # A worker may hold its connection already: closing it is the worker's to do.
        connected = (
            database.connection_context() if database.is_closed() else contextlib.nullcontext()
        )
        try:
            with connected:
                beat(self.worker, now, started_at=self._started)
        except peewee.DatabaseError:
            return False
        self._last = now
        return True
