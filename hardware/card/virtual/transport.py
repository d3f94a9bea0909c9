"""The ``virtual`` backend: readers and cards inside this process, no pcscd needed.

The same :class:`VirtualThaiIdCard` that the vpcd process serves is called directly here, so
the reader's protocol and decoding code runs unchanged on a machine without PC/SC. Tests and
the demo insert, pull and swap cards, and plug and unplug readers, with the methods below.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from hardware.card.transport import CardLink, CardTransport, ReaderState
from hardware.card.virtual.applet import VirtualThaiIdCard
from hardware.exc import CardRemovedError, NoCardError, ReaderUnavailableError

DEFAULT_READER = "Virtual Thai ID Reader 00 00"


@dataclass
class _Slot:
    card: VirtualThaiIdCard | None = None
    counter: int = 0
    plugged: bool = True
    #: The card fails (is pulled) when it has answered this many more APDUs.
    fail_after: int | None = None


class VirtualTransport(CardTransport):
    """In-process readers; every method is thread-safe."""

    name = "virtual"

    def __init__(self, readers: Iterable[str] = (DEFAULT_READER,)) -> None:
        self._cond = threading.Condition()
        self._slots = {name: _Slot() for name in readers}
        self._service = True
        self._wakeups = 0

    # --- what tests and the demo do to it ------------------------------------------------

    def insert(
        self,
        card: VirtualThaiIdCard,
        reader: str | None = None,
        *,
        fail_after_apdus: int | None = None,
    ) -> None:
        """Put ``card`` in ``reader`` (the first one by default), pulling any card there."""
        with self._cond:
            slot = self._slot(reader)
            if slot.card is not None:
                slot.counter += 1
            card.reset()
            slot.card = card
            slot.fail_after = fail_after_apdus
            slot.counter += 1
            self._cond.notify_all()

    def remove(self, reader: str | None = None) -> None:
        """Pull the card out of ``reader`` (no-op when empty)."""
        with self._cond:
            slot = self._slot(reader)
            if slot.card is not None:
                slot.card = None
                slot.counter += 1
                self._cond.notify_all()

    def set_plugged(self, plugged: bool, reader: str | None = None) -> None:
        """Unplug or plug a reader back in (its card stays in it, as in a real one)."""
        with self._cond:
            self._slot(reader).plugged = plugged
            self._cond.notify_all()

    def set_service(self, up: bool) -> None:
        """Stop or restart the pretend PC/SC service (every reader vanishes meanwhile)."""
        with self._cond:
            self._service = up
            self._cond.notify_all()

    def _slot(self, reader: str | None) -> _Slot:
        return self._slots[reader if reader is not None else next(iter(self._slots))]

    # --- the transport interface ---------------------------------------------------------

    def _snapshot(self) -> dict[str, ReaderState]:
        if not self._service:
            raise ReaderUnavailableError("virtual PC/SC service is stopped")
        return {
            name: ReaderState(
                name=name,
                present=slot.card is not None,
                atr=slot.card.atr if slot.card is not None else b"",
                counter=slot.counter,
                raw=slot.counter,
            )
            for name, slot in self._slots.items()
            if slot.plugged
        }

    def snapshot(self) -> dict[str, ReaderState]:
        """Every plugged reader now."""
        with self._cond:
            return self._snapshot()

    def wait_for_change(
        self, known: Mapping[str, ReaderState], timeout_s: float
    ) -> dict[str, ReaderState]:
        """Wait on the condition until the readers differ from ``known``."""
        with self._cond:
            wakeups = self._wakeups
            self._cond.wait_for(
                lambda: not self._service or self._snapshot() != known or self._wakeups != wakeups,
                timeout=timeout_s,
            )
            return self._snapshot()

    def cancel(self) -> None:
        """Wake :meth:`wait_for_change`."""
        with self._cond:
            self._wakeups += 1
            self._cond.notify_all()

    def close(self) -> None:
        """Nothing to release; the cards stay where they are."""
        self.cancel()

    def connect(self, reader: str) -> CardLink:
        """A link to the card now in ``reader``."""
        with self._cond:
            if not self._service:
                raise ReaderUnavailableError("virtual PC/SC service is stopped")
            slot = self._slots.get(reader)
            if slot is None or not slot.plugged:
                raise ReaderUnavailableError(f"no reader {reader!r}")
            if slot.card is None:
                raise NoCardError(f"no card in {reader!r}")
            return VirtualLink(self, reader, slot.card, slot.counter)

    def _transmit(self, link: VirtualLink, command: bytes) -> bytes:
        with self._cond:
            if not self._service:
                raise ReaderUnavailableError("virtual PC/SC service is stopped")
            slot = self._slots[link.reader]
            if not slot.plugged:
                raise ReaderUnavailableError(f"reader {link.reader!r} was unplugged")
            if slot.card is not link.card or slot.counter != link.counter:
                raise CardRemovedError(f"card in {link.reader!r} was removed")
            if slot.fail_after is not None:
                if slot.fail_after <= 0:
                    slot.card = None
                    slot.counter += 1
                    self._cond.notify_all()
                    raise CardRemovedError(f"card in {link.reader!r} was pulled mid-command")
                slot.fail_after -= 1
            return link.card.process(command)


class VirtualLink(CardLink):
    """A link to one in-process card; stale as soon as that card leaves the reader."""

    def __init__(
        self, transport: VirtualTransport, reader: str, card: VirtualThaiIdCard, counter: int
    ) -> None:
        self._transport: VirtualTransport | None = transport
        self.reader = reader
        self.card = card
        self.counter = counter
        self.atr = card.atr

    def transmit(self, apdu: bytes) -> tuple[bytes, int, int]:
        """Call the card directly."""
        if self._transport is None:
            raise CardRemovedError("link is closed")
        response = self._transport._transmit(self, bytes(apdu))
        return response[:-2], response[-2], response[-1]

    def begin(self) -> None:
        """Transactions are moot in-process: every transmit holds the transport's lock."""
        if self._transport is None:
            raise CardRemovedError("link is closed")

    def end(self) -> None:
        """Nothing to end."""

    def close(self) -> None:
        """Forget the transport; safe twice."""
        self._transport = None
