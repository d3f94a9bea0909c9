"""What the reader needs from an APDU transport: reader states, waiting, and links.

Two transports implement it: :mod:`hardware.card.pcsc` (pyscard over PC/SC, the ``real``
backend) and :mod:`hardware.card.virtual.transport` (an in-process virtual card, the
``virtual`` backend). The protocol and decoding code above them is the same for both.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass
from types import TracebackType


@dataclass(frozen=True, slots=True)
class ReaderState:
    """One reader as the transport last saw it.

    ``counter`` changes on every insertion and removal (PC/SC's event counter), so a card
    swapped between two looks is still seen as a removal and an insertion. ``raw`` is the
    transport's own state word, handed back to it when waiting for the next change.
    """

    name: str
    present: bool
    atr: bytes = b""
    counter: int = 0
    raw: int = 0


class CardLink(ABC):
    """One SHARED connection to the card in one reader."""

    reader: str
    atr: bytes

    @abstractmethod
    def transmit(self, apdu: bytes) -> tuple[bytes, int, int]:
        """Send a command APDU; returns ``(data, sw1, sw2)``.

        Raises :class:`CardRemovedError` when the card went away (or answered nothing) and
        :class:`ReaderUnavailableError` when the reader or the PC/SC service did.
        """

    @abstractmethod
    def begin(self) -> None:
        """Start a transaction: no other application's APDU comes between ours until ``end``."""

    @abstractmethod
    def end(self) -> None:
        """End the transaction started by :meth:`begin` (never raises)."""

    @abstractmethod
    def close(self) -> None:
        """Disconnect, leaving the card powered for other applications; safe twice."""

    def __enter__(self) -> CardLink:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


class CardTransport(ABC):
    """Readers and the cards in them, as one backend sees them."""

    #: The backend's name (``real`` or ``virtual``).
    name: str

    @abstractmethod
    def snapshot(self) -> dict[str, ReaderState]:
        """Every reader now, by name. Raises :class:`ReaderUnavailableError` if the service
        behind the readers (pcscd) is down."""

    @abstractmethod
    def wait_for_change(
        self, known: Mapping[str, ReaderState], timeout_s: float
    ) -> dict[str, ReaderState]:
        """Block until the readers differ from ``known`` (or ``timeout_s`` passes, or
        :meth:`cancel` is called); returns the readers now. ``{}`` as ``known`` returns at
        once. Raises :class:`ReaderUnavailableError` if the service is down."""

    @abstractmethod
    def connect(self, reader: str) -> CardLink:
        """Connect (SHARED) to the card in ``reader``. Raises :class:`NoCardError` when the
        reader is empty, :class:`ReaderUnavailableError` when it or the service is gone."""

    @abstractmethod
    def cancel(self) -> None:
        """Wake a thread blocked in :meth:`wait_for_change` (called from another thread)."""

    @abstractmethod
    def close(self) -> None:
        """Release what the transport holds; safe twice."""
