"""The station's Thai ID card reader: card events, then the text, then (if asked) the photo.

Like a gpiozero device: a small interface, a context manager, ``close()`` safe to call twice,
and a backend (``real`` PC/SC or ``virtual`` in-process) picked once by
:func:`hardware.backend.choose_backend`. A monitor thread watches the readers and calls
``when_inserted`` / ``when_removed`` with a :class:`CardEvent` naming the reader; it outlives
pcscd restarts and readers being unplugged and plugged back.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from types import TracebackType
from typing import Literal

from hardware.backend import choose_backend
from hardware.card import protocol
from hardware.card.config import CardConfig
from hardware.card.protocol import ApduStats
from hardware.card.record import ThaiIdCard
from hardware.card.transport import CardLink, CardTransport, ReaderState
from hardware.exc import HardwareError, NoCardError, ReaderUnavailableError

log = logging.getLogger(__name__)

#: How long close() waits for the monitor thread (it is woken at once; this is a guard).
_JOIN_S = 10.0


@dataclass(frozen=True, slots=True)
class CardEvent:
    """A card announced in (after the settle delay) or gone from a reader."""

    kind: Literal["inserted", "removed"]
    reader: str
    atr: bytes
    #: ``time.monotonic()`` when the monitor announced it.
    at: float


def _backends(config: CardConfig) -> dict[str, Callable[[], CardTransport]]:
    def real() -> CardTransport:
        from hardware.card.pcsc import PcscTransport

        return PcscTransport()

    def virtual() -> CardTransport:
        from hardware.card.virtual import VirtualThaiIdCard, VirtualTransport

        transport = VirtualTransport()
        if config.virtual_card_file:
            transport.insert(VirtualThaiIdCard.from_card_file(config.virtual_card_file))
        return transport

    return {"real": real, "virtual": virtual}


class ThaiIdCardReader:
    """Reads Thai national ID cards from the first reader (matching the filter) with a card.

    ``read()`` returns the text fields as an immutable :class:`ThaiIdCard`, or raises: a
    card pulled mid-read is :class:`CardRemovedError`, never a partial record.
    ``read_photo()`` then reads the photo over the same connection, so it can only be the
    photo of the card just read: if that card left the reader, it raises instead.
    """

    def __init__(
        self, config: CardConfig | None = None, *, transport: CardTransport | None = None
    ) -> None:
        # Every handle first, so close() works whatever raises below.
        self._transport: CardTransport | None = None
        self._thread: threading.Thread | None = None
        self._link: CardLink | None = None
        self._closed = False
        self._stop = threading.Event()
        self._cond = threading.Condition()
        self._io_lock = threading.Lock()
        self._scanned = False
        self._service_up: bool | None = None
        self._readers: dict[str, ReaderState] = {}
        self._cards: dict[str, tuple[ReaderState, float]] = {}  # announced: state, when
        self._pending: dict[str, tuple[ReaderState, float]] = {}  # settling: state, first seen
        #: Called on the monitor thread with a :class:`CardEvent`; exceptions are logged.
        self.when_inserted: Callable[[CardEvent], object] | None = None
        self.when_removed: Callable[[CardEvent], object] | None = None
        #: What the last ``read()`` or ``read_photo()`` cost.
        self.last_stats: ApduStats | None = None
        self.config = config or CardConfig()
        self.backend = ""
        try:
            if transport is None:
                self.backend, transport = choose_backend(
                    "card", _backends(self.config), requested=self.config.backend
                )
            else:
                self.backend = transport.name
            self._transport = transport
            self._thread = threading.Thread(target=self._monitor, name="card-monitor", daemon=True)
            self._thread.start()
        except BaseException:
            self.close()
            raise

    # --- state ------------------------------------------------------------------------------

    @property
    def closed(self) -> bool:
        """True once :meth:`close` has run."""
        return self._closed

    @property
    def transport(self) -> CardTransport:
        """The backend's transport (the virtual one has ``insert``/``remove`` for tests)."""
        return self._check_open()

    @property
    def readers(self) -> list[str]:
        """The readers (matching the filter) attached now, as the monitor last saw them."""
        with self._cond:
            return sorted(self._readers)

    @property
    def card_present(self) -> bool:
        """True while an announced card is in a reader."""
        with self._cond:
            return bool(self._cards)

    def _check_open(self) -> CardTransport:
        transport = self._transport
        if self._closed or transport is None:
            raise HardwareError("card reader is closed")
        return transport

    def _matches(self, name: str) -> bool:
        return self.config.reader_filter.lower() in name.lower()

    # --- waiting ----------------------------------------------------------------------------

    def wait_for_scan(self, timeout: float | None = None) -> bool:
        """Wait until the monitor has looked at the readers once (or found pcscd down)."""
        with self._cond:
            return self._cond.wait_for(lambda: self._scanned or self._closed, timeout)

    def wait_for_card(self, timeout: float | None = None) -> CardEvent | None:
        """Wait until a card is announced; returns the latest card's event, None on timeout."""
        with self._cond:
            self._cond.wait_for(lambda: bool(self._cards) or self._closed, timeout)
            if not self._cards:
                return None
            name, (state, at) = max(self._cards.items(), key=lambda item: item[1][1])
            return CardEvent("inserted", name, state.atr, at)

    def wait_for_removal(self, timeout: float | None = None) -> bool:
        """Wait until no card is in any reader; False on timeout."""
        with self._cond:
            return self._cond.wait_for(lambda: not self._cards or self._closed, timeout)

    # --- reading ----------------------------------------------------------------------------

    def read(self, reader: str | None = None) -> ThaiIdCard:
        """Read the text fields of the card (in ``reader``, or the last card announced).

        Raises :class:`ReaderUnavailableError` (no reader / pcscd down), :class:`NoCardError`,
        :class:`NotThaiIdCardError`, :class:`CardCommandError` (bad status word),
        :class:`CardDataError` (a field fails validation) or :class:`CardRemovedError`.
        """
        transport = self._check_open()
        with self._io_lock:
            self._drop_link()
            name = self._choose_reader(transport, reader)
            link = transport.connect(name)
            try:
                record, stats = protocol.read_text(link)
            except BaseException:
                link.close()
                raise
            self._link = link
            self.last_stats = stats
            log.info("card read in %s: %d APDUs, %.1f ms", name, stats.apdus, stats.seconds * 1000)
            return record

    def read_photo(self) -> bytes:
        """The JPEG photo of the card the last :meth:`read` returned (20 chunks, ~5 KB).

        Raises :class:`NoCardError` if nothing was read, :class:`CardRemovedError` if that
        card has left the reader since.
        """
        self._check_open()
        with self._io_lock:
            link = self._link
            if link is None:
                raise NoCardError("no card read yet (or it was removed): call read() first")
            try:
                photo, stats = protocol.read_photo(link)
            except BaseException:
                self._drop_link()
                raise
            self.last_stats = stats
            log.info(
                "photo read in %s: %d APDUs, %.1f ms",
                link.reader,
                stats.apdus,
                stats.seconds * 1000,
            )
            return photo

    def _choose_reader(self, transport: CardTransport, wanted: str | None) -> str:
        """The reader to read from, after the card in it has settled."""
        snapshot = transport.snapshot()
        matching = [s for n, s in snapshot.items() if self._matches(n) and wanted in (None, n)]
        if not matching:
            what = wanted or (
                f"matching {self.config.reader_filter!r}" if self.config.reader_filter else ""
            )
            raise ReaderUnavailableError(f"no card reader {what}".strip())
        present = [s for s in matching if s.present]
        if not present:
            raise NoCardError(f"no card in {', '.join(s.name for s in matching)}")
        with self._cond:

            def announced_at(state: ReaderState) -> float:
                entry = self._cards.get(state.name)
                return entry[1] if entry and entry[0].counter == state.counter else -1.0

            state = max(present, key=announced_at)
            if announced_at(state) >= 0:
                wait = 0.0  # the monitor announced it: it has settled
            else:
                pending = self._pending.get(state.name)
                seen = (
                    pending[1]
                    if pending and pending[0].counter == state.counter
                    else time.monotonic()
                )
                wait = seen + self.config.settle_s - time.monotonic()
        if wait > 0:
            self._stop.wait(wait)
        return state.name

    def _drop_link(self) -> None:
        link, self._link = self._link, None
        if link is not None:
            link.close()

    # --- the monitor ------------------------------------------------------------------------

    def _monitor(self) -> None:
        known: dict[str, ReaderState] = {}
        transport = self._transport
        assert transport is not None
        while not self._stop.is_set():
            timeout = self.config.poll_s
            with self._cond:
                if self._pending:
                    due = min(seen for _, seen in self._pending.values()) + self.config.settle_s
                    timeout = min(timeout, max(0.0, due - time.monotonic()))
            try:
                snapshot = transport.wait_for_change(known, timeout)
            except ReaderUnavailableError as exc:
                if self._service_up is not False:
                    log.warning("card readers unavailable: %s", exc)
                known = {}
                self._update({}, service_up=False)
                self._stop.wait(self.config.poll_s)
                continue
            except Exception:  # keep watching whatever one wait did
                log.exception("card monitor: unexpected error")
                self._stop.wait(self.config.poll_s)
                continue
            if self._service_up is False:
                log.info("card readers available again")
            known = snapshot
            self._update(snapshot, service_up=True)

    def _update(self, snapshot: dict[str, ReaderState], service_up: bool) -> None:
        """Turn the new reader states into events (removals first, then settled insertions)."""
        events: list[CardEvent] = []
        now = time.monotonic()
        with self._cond:
            self._service_up = service_up
            matching = {n: s for n, s in snapshot.items() if self._matches(n)}
            for name in sorted(set(self._readers) | set(matching)):
                old, new = self._readers.get(name), matching.get(name)
                was = old is not None and old.present
                now_in = new is not None and new.present
                swapped = was and now_in and (old.counter, old.atr) != (new.counter, new.atr)
                if was and (not now_in or swapped):
                    self._pending.pop(name, None)
                    gone = self._cards.pop(name, None)
                    if gone is not None:
                        events.append(CardEvent("removed", name, gone[0].atr, now))
                if now_in and (not was or swapped):
                    self._pending[name] = (new, now)
            for name in set(self._readers) - set(matching):
                log.info("card reader gone: %s", name)
            for name in set(matching) - set(self._readers):
                log.info("card reader attached: %s", name)
            self._readers = matching
            for name, (state, seen) in sorted(self._pending.items(), key=lambda i: i[1][1]):
                if now - seen >= self.config.settle_s:
                    del self._pending[name]
                    self._cards[name] = (state, now)
                    events.append(CardEvent("inserted", name, state.atr, now))
            self._scanned = True
            self._cond.notify_all()
        for event in events:
            log.info("card %s: %s (ATR %s)", event.kind, event.reader, event.atr.hex(" "))
            callback = self.when_inserted if event.kind == "inserted" else self.when_removed
            if callback is not None:
                try:
                    callback(event)
                except Exception:
                    log.exception("card %s callback failed", event.kind)

    # --- lifetime ---------------------------------------------------------------------------

    def close(self) -> None:
        """Stop the monitor, disconnect, release the transport; safe twice."""
        with self._cond:
            if self._closed:
                return
            self._closed = True
            self._cond.notify_all()
        self._stop.set()
        transport, thread = self._transport, self._thread
        self._thread = None
        if transport is not None:
            transport.cancel()
        if thread is not None and thread is not threading.current_thread():
            thread.join(_JOIN_S)
            if thread.is_alive():
                log.warning("card monitor did not stop within %.0f s", _JOIN_S)
        self._drop_link()
        self._transport = None
        if transport is not None:
            transport.close()

    def __enter__(self) -> ThaiIdCardReader:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
