"""A worker thread that drains an outbox: one pass, then a pause when there was nothing to do.

The SMS outbox (``dcs-server sms``) and the notification outbox (``dcs-server notify``) are
run the same way: call ``deliver_due`` (which claims due rows with a lease and returns what
it delivered), beat for readiness, and wait ``poll_s`` only when the pass delivered nothing,
so a backlog drains at full speed. A database error ends one pass, not the worker.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence

import peewee

from sync_server.db import database
from sync_server.ops.beats import Beater

log = logging.getLogger(__name__)


class DrainWorker:
    """Runs ``deliver_due`` in a thread named ``name`` until the ``with`` block ends."""

    def __init__(
        self,
        name: str,
        deliver_due: Callable[[], Sequence[object]],
        poll_s: float,
        beater: Beater,
    ) -> None:
        self.name = name
        self.poll_s = poll_s
        self.beater = beater
        self._deliver_due = deliver_due
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)

    def __enter__(self) -> DrainWorker:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=30)

    def _run(self) -> None:
        with database.connection_context():  # this thread's own connection
            while not self._stop.is_set():
                self.beater()
                try:
                    deliveries = self._deliver_due()
                except peewee.DatabaseError:
                    log.exception("%s pass failed; trying again", self.name)
                    deliveries = []
                if not deliveries:
                    self._stop.wait(self.poll_s)
