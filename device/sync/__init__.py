"""The sync agent: drains the outbox over MQTT, answers commands, reports telemetry."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from datetime import datetime, timedelta

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from contract import Channel, Heartbeat, encode
from contract.transport import BrokerSettings
from device.config import SyncConfig
from device.store import Store, utc_now
from device.sync.backoff import Backoff
from device.sync.command_log import CommandLog
from device.sync.commands import Commands
from device.sync.drainer import Drainer
from device.sync.link import Link
from device.sync.lookup import Lookups

__all__ = ["SyncAgent"]

log = logging.getLogger(__name__)

_PURGE_EVERY_S = 3600.0


class SyncAgent:
    """Everything between the station store and the broker, on one background thread.

    Use as a context manager or call :meth:`start` and :meth:`stop`. ``command_key`` is the
    server's public key remote commands must be signed with (``None``: refuse them all);
    ``command_log`` keeps the ids of those already run (in memory if not given).
    """

    def __init__(
        self,
        store: Store,
        broker: BrokerSettings,
        config: SyncConfig,
        *,
        software_version: str,
        clock: Callable[[], datetime] = utc_now,
        command_key: Ed25519PublicKey | None = None,
        command_log: CommandLog | None = None,
    ) -> None:
        self._thread: threading.Thread | None = None
        self.store = store
        self.config = config
        self._clock = clock
        self._software_version = software_version
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._started_at = time.monotonic()
        self.link = Link(
            store.station_id,
            broker,
            software_version=software_version,
            clock=clock,
            backoff=Backoff(
                config.reconnect_initial_s,
                config.reconnect_max_s,
                spread=config.reconnect_spread_s,
            ),
            keepalive_s=config.keepalive_s,
        )
        self.drainer = Drainer(
            store.outbox,
            self.link,
            window=config.window,
            batch=config.batch,
            retry=Backoff(config.ack_timeout_s, config.ack_timeout_max_s, jitter=0.3),
            clock=clock,
        )
        self.lookups = Lookups(self.link, timeout_s=config.lookup_timeout_s)
        self.commands = Commands(self.link, clock, command_key, command_log)
        store.outbox.on_enqueue(self._wake.set)
        self.link.on_connected(self._wake.set)
        self.drainer.on_work = self._wake.set  # acks wake the drain thread too
        self._next_heartbeat = 0.0
        self._next_purge = 0.0
        #: Extra heartbeat gauges (paper, tamper, watchdog...) by name; numbers only.
        self.metric_sources: list[Callable[[], dict[str, float]]] = []
        self._last_progress = time.monotonic()

    def start(self) -> SyncAgent:
        """Connect and start draining in the background."""
        self._stop.clear()
        self.link.start()
        self._thread = threading.Thread(target=self._run, name="dcs-sync", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop draining, say offline, disconnect; safe to call twice."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        self.link.stop()

    def __enter__(self) -> SyncAgent:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @property
    def uptime_s(self) -> float:
        """Seconds since this agent was made."""
        return time.monotonic() - self._started_at

    @property
    def server_clock_offset_s(self) -> float | None:
        """The station's clock minus the server's, as of the last ack (``None``: no ack yet)."""
        return self.drainer.server_clock_offset_s

    def wake(self) -> None:
        """Ask the drain thread to look at the outbox now."""
        self._wake.set()

    def heartbeat(self) -> Heartbeat:
        """The telemetry this station reports now."""
        backlog = self.store.outbox.backlog()
        metrics: dict[str, float] = {}
        for source in self.metric_sources:
            try:
                metrics.update(source())
            except Exception:
                # A device that cannot report must not silence the heartbeat itself.
                log.exception("a heartbeat metric source failed")
        return Heartbeat(
            station_id=self.store.station_id,
            station_time=self._clock(),
            uptime_s=time.monotonic() - self._started_at,
            backlog=backlog.pending,
            oldest_undelivered_age_s=backlog.oldest_age_s(self._clock()),
            rejected=backlog.rejected,
            software_version=self._software_version,
            metrics=metrics,
        )

    def making_progress(self, stalled_after_s: float) -> bool:
        """Whether the sync loop completed a step within ``stalled_after_s`` (watchdog health)."""
        return time.monotonic() - self._last_progress < stalled_after_s

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                busy = self.drainer.step()
                self._periodic()
            except Exception:
                # Keep the agent alive: the outbox is the source of truth, a retry follows.
                log.exception("sync step failed")
                busy = False
            self._last_progress = time.monotonic()
            if not busy:
                self._wake.wait(self.config.poll_interval_s)
                self._wake.clear()

    def _periodic(self) -> None:
        now = time.monotonic()
        if self.link.connected and now >= self._next_heartbeat:
            self._next_heartbeat = now + self.config.heartbeat_interval_s
            self.link.publish(Channel.TELEMETRY, encode(self.heartbeat()), qos=0)
        if now >= self._next_purge:
            self._next_purge = now + _PURGE_EVERY_S
            purged = self.store.outbox.purge(timedelta(days=self.config.retention_days))
            if purged:
                log.info("purged %d settled transactions past retention", purged)
