"""The durable outbox: every state-changing action waits here until the server acks it."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import msgspec
from peewee import fn

from contract import AckItem, Transaction, decode_body
from contract.failpoints import hit
from device.store.crypto import Sealer
from device.store.ids import new_tx_id
from device.store.models import Models

_body_encoder = msgspec.json.Encoder()


@dataclass(frozen=True)
class Backlog:
    """What is still waiting for the server."""

    pending: int
    oldest_station_time: datetime | None
    rejected: int

    def oldest_age_s(self, now: datetime) -> float | None:
        """Seconds since the oldest undelivered transaction was queued (station clock)."""
        if self.oldest_station_time is None:
            return None
        return max(0.0, (now - self.oldest_station_time).total_seconds())


class Outbox:
    """Append, read in order, settle on ack, purge after retention."""

    def __init__(
        self,
        models: Models,
        sealer: Sealer,
        station_id: str,
        clock: Callable[[], datetime],
    ) -> None:
        self._rows = models.outbox
        self._db = models.outbox._meta.database
        self._sealer = sealer
        self._station_id = station_id
        self._clock = clock
        self._listeners: list[Callable[[], None]] = []

    def on_enqueue(self, listener: Callable[[], None]) -> None:
        """Call ``listener`` after each durable enqueue (the sync agent wakes up on it)."""
        self._listeners.append(listener)

    def enqueue(self, kind: str, body: dict[str, Any]) -> Transaction:
        """Write a transaction durably and return it.

        The body is validated against the contract first, so nothing the server would reject
        as malformed is ever queued. When this returns, the row is committed with
        ``synchronous=FULL``: it survives a power cut, and only then may the UI say "done".
        Call inside :meth:`device.store.Store.atomic` to commit it together with other writes.
        """
        tx = Transaction(
            tx_id=new_tx_id(),
            station_id=self._station_id,
            seq=1,  # replaced by the row's sequence below
            kind=kind,
            station_time=self._clock(),
            body=body,
        )
        decode_body(tx)
        sealed = self._sealer.seal(_body_encoder.encode(body), tx.tx_id.encode())
        with self._db.atomic():
            seq = self._rows.insert(
                tx_id=tx.tx_id,
                kind=kind,
                station_time=tx.station_time.isoformat(),
                sealed_body=sealed,
            ).execute()
        if not self._db.in_transaction():
            # Committed now. Inside Store.atomic the commit comes later; it hits there.
            hit("station.after_commit")
        tx.seq = seq
        for listener in self._listeners:
            listener()
        return tx

    def pending(
        self, after_seq: int = 0, limit: int = 100, tx_ids: Iterable[str] | None = None
    ) -> list[Transaction]:
        """Up to ``limit`` undelivered transactions with ``seq > after_seq``, in order.

        With ``tx_ids``, only those of them that are still pending.
        """
        condition = (self._rows.state == "pending") & (self._rows.seq > after_seq)
        if tx_ids is not None:
            condition &= self._rows.tx_id.in_(list(tx_ids))
        rows = self._rows.select().where(condition).order_by(self._rows.seq).limit(limit).tuples()
        fields = self._rows._meta.sorted_field_names
        index = {name: fields.index(name) for name in fields}
        result = []
        for row in rows:
            tx_id = row[index["tx_id"]]
            body = msgspec.json.decode(self._sealer.open(row[index["sealed_body"]], tx_id.encode()))
            result.append(
                Transaction(
                    tx_id=tx_id,
                    station_id=self._station_id,
                    seq=row[index["seq"]],
                    kind=row[index["kind"]],
                    station_time=datetime.fromisoformat(row[index["station_time"]]),
                    body=body,
                )
            )
        return result

    def settle(self, results: Iterable[AckItem]) -> int:
        """Record the server's verdicts; returns how many pending rows this settled.

        ``applied`` and ``duplicate`` mark a row delivered; ``rejected`` sets it aside with
        the reason. Acks for rows already settled (re-acks of duplicates) change nothing.
        """
        now = self._clock().isoformat()
        settled = 0
        with self._db.atomic():
            for item in results:
                state = "rejected" if item.outcome == "rejected" else "delivered"
                settled += (
                    self._rows.update(state=state, reason=item.reason, settled_at=now)
                    .where((self._rows.tx_id == item.tx_id) & (self._rows.state == "pending"))
                    .execute()
                )
        return settled

    def backlog(self) -> Backlog:
        """Pending count, the oldest pending transaction's time and the rejected count."""
        rows = self._rows
        pending, oldest = (
            rows.select(fn.COUNT(rows.seq), fn.MIN(rows.station_time))
            .where(rows.state == "pending")
            .tuples()
            .get()
        )
        rejected = rows.select().where(rows.state == "rejected").count()
        return Backlog(
            pending=pending,
            oldest_station_time=datetime.fromisoformat(oldest) if oldest else None,
            rejected=rejected,
        )

    def state_of(self, tx_id: str) -> str | None:
        """``pending``, ``delivered``, ``rejected`` or ``None`` when unknown or purged."""
        row = self._rows.get_or_none(self._rows.tx_id == tx_id)
        return None if row is None else row.state

    def purge(self, retention: timedelta) -> int:
        """Delete settled rows (and their sealed personal data) older than ``retention``."""
        cutoff = (self._clock() - retention).isoformat()
        with self._db.atomic():
            return (
                self._rows.delete()
                .where((self._rows.state != "pending") & (self._rows.settled_at < cutoff))
                .execute()
            )
