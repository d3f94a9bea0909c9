"""The durable outbox: every state-changing action waits here until the server acks it."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import msgspec
import peewee
from peewee import fn

from contract import AckItem, Transaction, decode_body
from contract.failpoints import hit
from device.store.crypto import Sealer
from device.store.ids import new_tx_id
from device.store.models import Models

_body_encoder = msgspec.json.Encoder()
_INSERT = "INSERT INTO outbox (tx_id, kind, station_time, sealed_body) VALUES (?, ?, ?, ?)"
_PENDING = (
    "SELECT seq, tx_id, kind, station_time, sealed_body FROM outbox"
    " WHERE state = 'pending' AND seq > ?"
)
#: What each ack outcome makes of a pending row.
_STATE_AFTER = {"applied": "delivered", "duplicate": "delivered", "rejected": "rejected"}
_SETTLE = (
    "UPDATE outbox SET state = ?, reason = ?, settled_at = ? WHERE tx_id = ? AND state = 'pending'"
)


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
        tx_id = new_tx_id()
        now = self._clock()
        tx = Transaction(
            tx_id=tx_id,
            station_id=self._station_id,
            seq=1,  # replaced by the row's sequence below
            kind=kind,
            station_time=now,
            body=body,
        )
        decode_body(tx)
        sealed = self._sealer.seal(_body_encoder.encode(body), tx_id.encode())
        params = (tx_id, kind, now.isoformat(), sealed)
        # Plain SQL on the hot path: building a peewee INSERT each time cost a third as much
        # as the fsync itself (see bench/outbox.py).
        db = self._db
        if db.in_transaction():
            # Inside Store.atomic: one statement is atomic on its own (SQLite undoes a failed
            # statement), and the enclosing commit makes it durable and hits the failpoint.
            seq = db.execute_sql(_INSERT, params).lastrowid
        else:
            seq = self._insert_committed(params)
            hit("station.after_commit")
        tx.seq = seq
        for listener in self._listeners:
            listener()
        return tx

    def _insert_committed(self, params: tuple[str, str, str, bytes]) -> int:
        """Insert one row in a transaction of its own and commit it (fsynced: FULL)."""
        # The bare connection: peewee's transaction stack is empty here and nothing else
        # runs on this thread before COMMIT returns, so there is nothing for it to track.
        # Errors are re-raised as peewee's, like everywhere else in the store.
        conn = self._db.connection()
        with peewee.__exception_wrapper__:
            conn.execute("BEGIN")
            try:
                seq = conn.execute(_INSERT, params).lastrowid
                conn.execute("COMMIT")
            except BaseException:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise
        return seq

    def pending(
        self, after_seq: int = 0, limit: int = 100, tx_ids: Iterable[str] | None = None
    ) -> list[Transaction]:
        """Up to ``limit`` undelivered transactions with ``seq > after_seq``, in order.

        With ``tx_ids``, only those of them that are still pending.
        """
        # Plain SQL: the drainer calls this after every ack, and building the peewee query
        # cost more than running it.
        sql = _PENDING
        params: list[object] = [after_seq]
        if tx_ids is not None:
            ids = list(tx_ids)
            if not ids:
                return []
            sql += f" AND tx_id IN ({', '.join('?' * len(ids))})"
            params += ids
        params.append(limit)
        with peewee.__exception_wrapper__:
            rows = self._db.execute_sql(sql + " ORDER BY seq LIMIT ?", params).fetchall()
        result = []
        for seq, tx_id, kind, station_time, sealed_body in rows:
            body = msgspec.json.decode(self._sealer.open(sealed_body, tx_id.encode()))
            result.append(
                Transaction(
                    tx_id=tx_id,
                    station_id=self._station_id,
                    seq=seq,
                    kind=kind,
                    station_time=datetime.fromisoformat(station_time),
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
        params = [(_STATE_AFTER[item.outcome], item.reason, now, item.tx_id) for item in results]
        if not params:
            return 0
        # One prepared UPDATE for the whole ack, in one commit: a peewee query per row cost
        # more than the rest of the drain loop (see bench/sync.py).
        with self._db.atomic():
            cursor = self._db.cursor()
            with peewee.__exception_wrapper__:
                cursor.executemany(_SETTLE, params)
            return cursor.rowcount  # rows changed, summed over the parameter sets

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
