"""Drains the outbox to the server in order, with a bounded window of unacked transactions."""

from __future__ import annotations

import logging
import queue
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

import paho.mqtt.client as mqtt

from contract import Ack, AckItem, Channel, ContractError, Transaction, decode, encode
from contract.batch import encode_batch, fits
from contract.failpoints import hit
from device.store import utc_now
from device.store.outbox import Outbox
from device.sync.backoff import Backoff
from device.sync.link import Link

log = logging.getLogger(__name__)


@dataclass
class _InFlight:
    seq: int
    attempts: int
    deadline: float  # time.monotonic()


class Drainer:
    """At-least-once delivery of the outbox.

    Transactions travel up to ``batch`` to a message (:mod:`contract.batch`); the window,
    the acks and the retries still count them one by one. A transaction is published
    (QoS 1) and stays in the window until the server's ack; the
    broker's PUBACK proves nothing, because a broker may drop a queued message or crash
    before saving it. Without an ack in time it is published again, each retry waiting
    longer (exponential backoff with jitter). After every reconnect the window restarts from
    the oldest pending row. Only :meth:`step` (the agent's drain thread) touches the store.
    """

    def __init__(
        self,
        outbox: Outbox,
        link: Link,
        *,
        window: int,
        retry: Backoff,
        batch: int = 1,
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        self._outbox = outbox
        self._clock = clock
        #: Station clock minus the server's, from the last ack (``None``: none yet).
        self.server_clock_offset_s: float | None = None
        self._link = link
        self._window = window
        self._batch = batch
        self._retry = retry
        self._inflight: dict[str, _InFlight] = {}
        self._cursor = 0
        self._restart = True
        self._acks: queue.SimpleQueue[list[AckItem]] = queue.SimpleQueue()
        #: Transactions published (retries included), and the MQTT messages they went in.
        self.published = 0
        self.messages = 0
        #: Called from the network thread when an ack arrives; the agent wakes its thread.
        self.on_work: Callable[[], None] = lambda: None
        self.settled = 0
        link.route(Channel.ACK, self._on_ack)
        link.on_connected(self._on_connected)

    @property
    def inflight(self) -> int:
        """Transactions published and not yet acked."""
        return len(self._inflight)

    def _on_connected(self) -> None:
        self._restart = True

    def _on_ack(self, message: mqtt.MQTTMessage) -> None:
        try:
            ack = decode(message.payload, Ack)
        except ContractError as exc:
            log.warning("ignored a malformed ack: %s", exc)
            return
        if ack.station_id != self._link.station_id:
            log.warning("ignored an ack addressed to another station")
            return
        # The server stamps each ack as it sends it: the station's clock minus that is its
        # offset from the server (plus the delivery time, milliseconds on a working link).
        self.server_clock_offset_s = (self._clock() - ack.server_time).total_seconds()
        self._acks.put(ack.results)
        self.on_work()

    def step(self, now: float | None = None) -> bool:
        """Settle received acks, retry overdue transactions, fill the window.

        Returns True when it did something (the agent loops again without sleeping).
        """
        now = time.monotonic() if now is None else now
        busy = self._settle()
        if not self._link.connected:
            return busy
        if self._restart:
            self._restart = False
            self._inflight.clear()
            self._cursor = 0
        busy |= self._retry_overdue(now)
        busy |= self._fill(now)
        return busy

    def _settle(self) -> bool:
        items: list[AckItem] = []
        while True:
            try:
                items.extend(self._acks.get_nowait())
            except queue.Empty:
                break
        if not items:
            return False
        self.settled += self._outbox.settle(items)
        for item in items:
            self._inflight.pop(item.tx_id, None)
            if item.outcome == "rejected":
                log.error("server rejected transaction %s: %s", item.tx_id, item.reason)
        return True

    def _publish(self, txs: list[Transaction], now: float, attempts: dict[str, int]) -> None:
        """Publish ``txs`` in as few messages as the batch size and payload limit allow."""
        group: list[bytes] = []
        size = 0
        for tx in txs:
            data = encode(tx)
            if group and (len(group) >= self._batch or not fits(size, len(group), len(data))):
                self._send(group)
                group, size = [], 0
            group.append(data)
            size += len(data)
            tries = attempts.get(tx.tx_id, 0)
            self._inflight[tx.tx_id] = _InFlight(
                seq=tx.seq, attempts=tries, deadline=now + self._retry.delay(tries)
            )
        if group:
            self._send(group)

    def _send(self, group: list[bytes]) -> None:
        hit("station.before_publish")
        self._link.publish(Channel.TX, encode_batch(self._link.station_id, group))
        self.published += len(group)
        self.messages += 1

    def _retry_overdue(self, now: float) -> bool:
        overdue = [tx_id for tx_id, f in self._inflight.items() if f.deadline <= now]
        if not overdue:
            return False
        attempts = {tx_id: self._inflight[tx_id].attempts + 1 for tx_id in overdue}
        still_pending = self._outbox.pending(limit=len(overdue), tx_ids=overdue)
        for tx_id in set(overdue) - {tx.tx_id for tx in still_pending}:
            self._inflight.pop(tx_id, None)  # settled meanwhile (e.g. by another process)
        self._publish(still_pending, now, attempts)
        log.info("republished %d transactions without an ack", len(still_pending))
        return True

    def _fill(self, now: float) -> bool:
        space = self._window - len(self._inflight)
        if space <= 0:
            return False
        batch = self._outbox.pending(after_seq=self._cursor, limit=space)
        if batch:
            self._publish(batch, now, {})
            self._cursor = batch[-1].seq
        return bool(batch)
