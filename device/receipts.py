"""The receipt spool: receipts wait in the station store until they have printed whole.

``ReceiptSpool.queue(kind, receipt)`` writes the receipt durably (sealed: it names the
citizen) before anything prints; :class:`ReceiptWorker` prints the oldest queued receipt,
checking the paper before and after, and marks it ``printed`` only when the printer still
reports paper after the job. Out of paper (even in the middle of a receipt) or a printer
that does not answer leaves the receipt ``queued``; it prints again, whole, once the printer
reports ``ok``. So nothing is lost and a receipt is printed once, with one exception the
hardware cannot rule out: a power cut between the last byte and the ``printed`` commit
prints it again after the restart.

What may be printed is decided here: only the kinds in :data:`RECEIPT_KINDS`, and never a
line or label that names a password or the old-age savings (refused by
:class:`hardware.printer.Receipt` itself, again when a stored receipt is read back).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

import msgspec
import peewee

from device.store import Store
from device.store.crypto import SealedDataError
from device.store.ids import new_tx_id
from hardware.exc import (
    HardwareError,
    PaperOutError,
    PrinterError,
    PrinterOfflineError,
    ReceiptContentError,
)
from hardware.printer import Receipt, ReceiptLine, ReceiptPrinter

__all__ = [
    "NEVER_PRINTED",
    "RECEIPT_KINDS",
    "Receipt",
    "ReceiptContentError",
    "ReceiptLine",
    "ReceiptSpool",
    "ReceiptWorker",
    "StationReceipt",
]

log = logging.getLogger(__name__)

#: The receipts a station prints. Deliberately absent: a password reset (the new password is
#: read out, never printed) and the insured-person record with its old-age savings screen.
RECEIPT_KINDS = frozenset(
    {
        "petition.filed",  # petition number and tracking link
        "petition.status",  # where a tracked petition stands
        "correction.filed",  # a data-correction request
        "eid.registered",  # an electronic-identity registration started
        "bills.paid",  # bills or a plan paid by QR: the payment's reference
        "bills.later",  # a bill's QR, printed to pay later (the station was offline)
    }
)
#: Kinds refused by name, so a caller gets a clear message instead of "not allowed".
NEVER_PRINTED = frozenset({"password.reset", "insured.old_age", "insured.savings"})


class StationReceipt(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """A receipt of an allowed kind; constructing (or decoding) any other raises."""

    kind: str
    content: Receipt

    def __post_init__(self) -> None:
        if self.kind in NEVER_PRINTED:
            raise ReceiptContentError(f"a {self.kind!r} receipt must never be printed")
        if self.kind not in RECEIPT_KINDS:
            raise ReceiptContentError(f"unknown receipt kind {self.kind!r}")


class ReceiptRow(peewee.Model):
    """A queued, printed or failed receipt (table created by migration 3)."""

    seq = peewee.AutoField()
    receipt_id = peewee.TextField(unique=True)
    kind = peewee.TextField()
    queued_at = peewee.TextField()
    sealed_body = peewee.BlobField()
    state = peewee.TextField(default="queued")
    attempts = peewee.IntegerField(default=0)
    last_error = peewee.TextField(null=True)
    settled_at = peewee.TextField(null=True)

    class Meta:
        table_name = "receipt"


@dataclass(frozen=True)
class QueuedReceipt:
    """The next receipt to print."""

    receipt_id: str
    receipt: StationReceipt
    attempts: int


_encoder = msgspec.json.Encoder()
_decoder = msgspec.json.Decoder(StationReceipt)


class ReceiptSpool:
    """The ``receipt`` table of one store."""

    def __init__(self, store: Store, clock: Callable[[], datetime] | None = None) -> None:
        self._db = store.db
        meta = type("Meta", (), {"database": store.db, "table_name": "receipt"})
        self._rows: type[ReceiptRow] = type(
            "ReceiptRow", (ReceiptRow,), {"Meta": meta, "__module__": __name__}
        )
        self._sealer = store.sealer
        self._clock = clock or store.clock
        self._listeners: list[Callable[[], None]] = []

    def on_queue(self, listener: Callable[[], None]) -> None:
        """Call ``listener`` after each receipt is queued (the worker wakes up on it)."""
        self._listeners.append(listener)

    def queue(self, kind: str, receipt: Receipt) -> str:
        """Store ``receipt`` durably for printing and return its id.

        Raises :class:`ReceiptContentError` for a kind that may not be printed. May be called
        inside :meth:`device.store.Store.atomic`, so the receipt commits with the petition;
        then wake the worker after the commit (listeners are told only outside a transaction).
        """
        item = StationReceipt(kind=kind, content=receipt)
        receipt_id = new_tx_id()
        sealed = self._sealer.seal(_encoder.encode(item), receipt_id.encode())
        with self._db.atomic():
            self._rows.insert(
                receipt_id=receipt_id,
                kind=kind,
                queued_at=self._clock().isoformat(),
                sealed_body=sealed,
            ).execute()
        if not self._db.in_transaction():
            self.notify()
        return receipt_id

    def notify(self) -> None:
        """Tell the listeners a receipt is queued (after committing one queued in a transaction)."""
        for listener in self._listeners:
            listener()

    def next_queued(self) -> QueuedReceipt | None:
        """The oldest queued receipt; one that cannot be read back is marked failed."""
        while True:
            row = (
                self._rows.select()
                .where(self._rows.state == "queued")
                .order_by(self._rows.seq)
                .first()
            )
            if row is None:
                return None
            try:
                item = _decoder.decode(self._sealer.open(row.sealed_body, row.receipt_id.encode()))
            except (SealedDataError, msgspec.ValidationError, msgspec.DecodeError) as exc:
                # A wrong key, a tampered row, or a kind no longer allowed: never print it.
                self.mark_failed(row.receipt_id, f"unreadable: {type(exc).__name__}")
                continue
            return QueuedReceipt(row.receipt_id, item, row.attempts)

    def state_of(self, receipt_id: str) -> str | None:
        """``queued``, ``printed``, ``failed`` or ``None`` (unknown or purged)."""
        row = self._rows.get_or_none(self._rows.receipt_id == receipt_id)
        return None if row is None else row.state

    def attempts_of(self, receipt_id: str) -> int:
        """How many times the receipt was sent and did not come out whole."""
        row = self._rows.get_or_none(self._rows.receipt_id == receipt_id)
        return 0 if row is None else row.attempts

    def counts(self) -> dict[str, int]:
        """``{"queued": n, "printed": n, "failed": n}`` (for telemetry)."""
        counts = dict.fromkeys(("queued", "printed", "failed"), 0)
        query = self._rows.select(self._rows.state, peewee.fn.COUNT(self._rows.seq))
        for state, count in query.group_by(self._rows.state).tuples():
            counts[state] = count
        return counts

    def record_attempt(self, receipt_id: str, error: str) -> None:
        """Count a send that did not come out whole; the receipt stays queued."""
        with self._db.atomic():
            self._rows.update(attempts=self._rows.attempts + 1, last_error=error).where(
                (self._rows.receipt_id == receipt_id) & (self._rows.state == "queued")
            ).execute()

    def mark_printed(self, receipt_id: str) -> None:
        """The printer reported paper after the whole job: done."""
        self._settle(receipt_id, "printed", None)

    def mark_failed(self, receipt_id: str, reason: str) -> None:
        """Give up on a receipt that can never print (``reason`` holds no personal data)."""
        self._settle(receipt_id, "failed", reason)

    def _settle(self, receipt_id: str, state: str, reason: str | None) -> None:
        with self._db.atomic():
            update = {"state": state, "settled_at": self._clock().isoformat()}
            if reason is not None:
                update["last_error"] = reason
            self._rows.update(**update).where(
                (self._rows.receipt_id == receipt_id) & (self._rows.state == "queued")
            ).execute()

    def purge(self, retention: timedelta) -> int:
        """Delete printed and failed receipts (and their personal data) older than ``retention``."""
        cutoff = (self._clock() - retention).isoformat()
        with self._db.atomic():
            return (
                self._rows.delete()
                .where((self._rows.state != "queued") & (self._rows.settled_at < cutoff))
                .execute()
            )

    def release_thread(self) -> None:
        """Close this thread's database connection (peewee keeps one per thread)."""
        if not self._db.is_closed():
            self._db.close()


class ReceiptWorker:
    """Prints queued receipts in order, one at a time, in a background thread.

    :meth:`run_once` is one step (tests call it directly); :meth:`start` runs steps until
    :meth:`stop`, waiting ``poll_interval_s`` between them while the printer cannot print or
    the spool is empty, and asking the printer's status meanwhile so paper events still fire.
    """

    def __init__(
        self,
        spool: ReceiptSpool,
        printer: ReceiptPrinter,
        poll_interval_s: float = 2.0,
        max_attempts: int = 5,
    ) -> None:
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self._wake = threading.Event()
        self.spool = spool
        self.printer = printer
        self.poll_interval_s = poll_interval_s
        self.max_attempts = max_attempts
        spool.on_queue(self.wake)

    def run_once(self) -> str:
        """Print the oldest queued receipt if the printer can; returns what happened.

        ``printed``, ``idle`` (nothing queued), ``paper-out`` / ``cover-open`` / ``offline``
        / ``error`` (kept queued), or ``failed`` (given up: unrenderable or refused).
        """
        item = self.spool.next_queued()
        try:
            status = self.printer.status()  # before: never start a receipt without paper
        except PrinterOfflineError:
            return "offline"
        except PrinterError as exc:
            log.warning("printer status unreadable: %s", exc)
            return "error"
        if item is None:
            return "idle"
        if not status.can_print:
            return status.state
        try:
            job = self.printer.render(item.receipt.content)
        except HardwareError as exc:
            self.spool.mark_failed(item.receipt_id, f"cannot render: {type(exc).__name__}")
            return "failed"
        try:
            self.printer.print_job(job)  # checks the paper again before and after the job
        except (PaperOutError, PrinterOfflineError) as exc:
            # Incomplete or not sent: the receipt stays queued and prints whole later.
            state = getattr(exc, "status", None)
            outcome = state.state if state is not None else "offline"
            self.spool.record_attempt(item.receipt_id, outcome)
            log.info("receipt %s not printed (%s); kept queued", item.receipt_id, outcome)
            return outcome
        except PrinterError as exc:
            self.spool.record_attempt(item.receipt_id, type(exc).__name__)
            if item.attempts + 1 >= self.max_attempts:
                self.spool.mark_failed(item.receipt_id, f"gave up: {type(exc).__name__}")
                return "failed"
            return "error"
        self.spool.mark_printed(item.receipt_id)
        log.info("receipt %s printed", item.receipt_id)
        return "printed"

    def wake(self) -> None:
        """Look at the spool now rather than after the poll interval."""
        self._wake.set()

    def start(self) -> ReceiptWorker:
        """Start printing in the background."""
        if self._thread is None:
            self._stop.clear()
            self._thread = threading.Thread(target=self._run, name="dcs-receipts", daemon=True)
            self._thread.start()
        return self

    def stop(self) -> None:
        """Stop after the current step; safe to call twice. The printer stays open."""
        self._stop.set()
        self._wake.set()
        thread, self._thread = self._thread, None
        if thread is not None:
            thread.join()

    def _run(self) -> None:
        try:
            while not self._stop.is_set():
                # Cleared before the step, so a receipt queued during it is not slept through.
                self._wake.clear()
                try:
                    outcome = self.run_once()
                except Exception:
                    # A store error must not kill printing for good; try again next tick.
                    log.exception("receipt worker step failed")
                    outcome = "error"
                if outcome not in ("printed", "failed"):  # else maybe more queued: go on
                    self._wake.wait(self.poll_interval_s)
        finally:
            self.spool.release_thread()

    def __enter__(self) -> ReceiptWorker:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()
