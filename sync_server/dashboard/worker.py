"""The rules loop: evaluate alarms (the fleet's, certificates' and the CRL's), probe the broker
(the server's own heartbeat, :mod:`sync_server.dashboard.broker`), expire commands and drop
heartbeat history past ``HEARTBEAT_HISTORY_DAYS`` every ``ALARM_POLL_S``; it records its own
heartbeat (``alarms``) for readiness."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping
from datetime import datetime

import peewee

from sync_server.dashboard import alarms, broker, commands, expiry
from sync_server.db import utc_now
from sync_server.fleet import history
from sync_server.ops.beats import Beater

log = logging.getLogger(__name__)


class AlarmWorker:
    """Runs :func:`alarms.evaluate` and :func:`commands.expire` in a thread until stopped."""

    def __init__(
        self,
        db: peewee.Database,
        config: Mapping[str, object],
        *,
        clock: Callable[[], datetime] = utc_now,
        broker_probe: broker.BrokerProbe | None = None,
        beater: Beater | None = None,
    ) -> None:
        """``broker_probe``: asked every round whether the broker answers; ``None`` skips it.
        ``beater``: records this worker's heartbeat for readiness (default ``alarms``)."""
        self._db = db
        self._config = dict(config)  # names the certificate and CRL files expiry watches
        self._limits = alarms.thresholds(config)
        self._poll_s = float(config.get("ALARM_POLL_S", 15.0))  # type: ignore[arg-type]
        self._clock = clock
        self._broker_probe = broker_probe
        self._beater = beater or Beater("alarms")  # real time: readiness reads it so
        self._history_days = float(
            config.get("HEARTBEAT_HISTORY_DAYS", history.DEFAULT_RETENTION_DAYS)  # type: ignore[arg-type]
        )
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.rounds = 0

    def run_once(self) -> dict:
        """One evaluation; returns what was raised and cleared."""
        # Probed outside the transaction: a frozen broker makes it wait for its timeout.
        reachable = self._broker_probe() if self._broker_probe is not None else None
        with self._db.connection_context():
            now = self._clock()
            found = [alarms.evaluate(now, self._limits)]
            found.append(expiry.evaluate(now, self._limits, self._config))
            if reachable is not None:
                found.append(broker.record(reachable, now))
            expired = commands.expire(now)
            history.purge(now, self._history_days)
            self._beater()
        changes = {key: [c for f in found for c in f[key]] for key in ("raised", "cleared")}
        for station_id, rule in changes["raised"]:
            log.warning("alarm raised: %s on %s", rule, station_id)
        for station_id, rule in changes["cleared"]:
            log.info("alarm cleared: %s on %s", rule, station_id)
        if expired:
            log.info("%d command(s) expired", expired)
        self.rounds += 1
        return changes

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                self.run_once()
            except peewee.PeeweeException:
                log.exception("alarm evaluation failed; trying again")
            self._stop.wait(self._poll_s)

    def start(self) -> AlarmWorker:
        """Start the loop in a daemon thread."""
        self._thread = threading.Thread(target=self._loop, name="alarms", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop the loop and wait for it."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(10)

    def __enter__(self) -> AlarmWorker:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
