"""The printer's real-time status: ``DLE EOT n`` (10 04 n) and the bytes it answers.

Each answer is one byte with bits 1 and 4 set and bits 0 and 7 clear (``0b0xx1xx10``):

* ``n=1`` printer status: bit 3 offline.
* ``n=2`` offline cause: bit 2 cover open, bit 5 stopped at paper end, bit 6 error.
* ``n=4`` roll paper sensor: bits 2-3 paper near its end, bits 5-6 paper out.

The printer answers these even while it is offline or out of paper, which is the point.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from hardware.exc import PrinterProtocolError

DLE_EOT = b"\x10\x04"
PRINTER, OFFLINE_CAUSE, ERROR_CAUSE, PAPER = 1, 2, 3, 4

#: The fixed bits every status byte carries, and the mask that checks them.
FIXED_BITS, FIXED_MASK = 0x12, 0x93

OFFLINE_BIT = 0x08
COVER_OPEN_BIT = 0x04
PAPER_END_STOP_BIT = 0x20
ERROR_BIT = 0x40
PAPER_NEAR_END_BITS = 0x0C
PAPER_OUT_BITS = 0x60


def request(n: int) -> bytes:
    """The bytes asking for status ``n``."""
    return DLE_EOT + bytes((n,))


class Paper(enum.StrEnum):
    """What the roll sensor says."""

    OK = "ok"
    LOW = "low"
    OUT = "out"
    UNKNOWN = "unknown"  # the transport has no way back (a write-only device file)


@dataclass(frozen=True)
class PrinterStatus:
    """One reading of the printer's state."""

    online: bool
    paper: Paper
    cover_open: bool = False
    error: bool = False

    @property
    def state(self) -> str:
        """One word for dashboards, events and LEDs.

        ``ok``, ``paper-low``, ``paper-out``, ``cover-open``, ``error`` or ``offline``.
        """
        if self.paper is Paper.OUT:
            return "paper-out"
        if self.cover_open:
            return "cover-open"
        if self.error:
            return "error"
        if not self.online:
            return "offline"
        if self.paper is Paper.LOW:
            return "paper-low"
        return "ok"

    @property
    def can_print(self) -> bool:
        """Whether a job sent now would come out whole (paper low still prints)."""
        return self.state in ("ok", "paper-low")


#: What a printer that does not answer at all looks like.
NO_ANSWER = PrinterStatus(online=False, paper=Paper.UNKNOWN)
#: What a transport without a way back (device file) has to assume.
UNVERIFIED = PrinterStatus(online=True, paper=Paper.UNKNOWN)


def check_byte(n: int, value: int) -> int:
    """``value`` if it is a well-formed answer to ``DLE EOT n``, else a protocol error."""
    if value & FIXED_MASK != FIXED_BITS:
        raise PrinterProtocolError(f"malformed answer 0x{value:02x} to DLE EOT {n}")
    return value


def parse(printer: int, offline_cause: int, paper: int) -> PrinterStatus:
    """Combine the answers to ``DLE EOT`` 1, 2 and 4."""
    for n, value in ((PRINTER, printer), (OFFLINE_CAUSE, offline_cause), (PAPER, paper)):
        check_byte(n, value)
    if paper & PAPER_OUT_BITS or offline_cause & PAPER_END_STOP_BIT:
        roll = Paper.OUT
    elif paper & PAPER_NEAR_END_BITS:
        roll = Paper.LOW
    else:
        roll = Paper.OK
    return PrinterStatus(
        online=not printer & OFFLINE_BIT,
        paper=roll,
        cover_open=bool(offline_cause & COVER_OPEN_BIT),
        error=bool(offline_cause & ERROR_BIT),
    )


def answers(state: str) -> dict[int, int]:
    """The bytes a printer in ``state`` answers to ``DLE EOT`` 1-4 (the virtual printer's table).

    ``state`` is one of the :attr:`PrinterStatus.state` words other than ``offline`` (an
    offline printer does not answer at all).
    """
    ok = {
        PRINTER: FIXED_BITS,
        OFFLINE_CAUSE: FIXED_BITS,
        ERROR_CAUSE: FIXED_BITS,
        PAPER: FIXED_BITS,
    }
    if state == "ok":
        return ok
    if state == "paper-low":
        return {**ok, PAPER: FIXED_BITS | PAPER_NEAR_END_BITS}
    if state == "paper-out":
        return {
            **ok,
            PRINTER: FIXED_BITS | OFFLINE_BIT,
            OFFLINE_CAUSE: FIXED_BITS | PAPER_END_STOP_BIT,
            PAPER: FIXED_BITS | PAPER_NEAR_END_BITS | PAPER_OUT_BITS,
        }
    if state == "cover-open":
        return {
            **ok,
            PRINTER: FIXED_BITS | OFFLINE_BIT,
            OFFLINE_CAUSE: FIXED_BITS | COVER_OPEN_BIT,
        }
    if state == "error":
        return {
            **ok,
            PRINTER: FIXED_BITS | OFFLINE_BIT,
            OFFLINE_CAUSE: FIXED_BITS | ERROR_BIT,
            ERROR_CAUSE: FIXED_BITS | 0x20,  # automatically recoverable (head too hot)
        }
    raise ValueError(f"no status bytes for state {state!r}")
