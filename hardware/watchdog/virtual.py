"""The ``virtual`` backend: the real firmware logic, under CPython, at the far end of a pty.

A pseudo-terminal pair stands in for the USB serial device, so :class:`VirtualWatchdogLink`
is the unchanged :class:`~hardware.watchdog.link.WatchdogLink` (pyserial and all) talking to
``watchdog_logic.Watchdog`` with a recording pin instead of the Pi's reset line. Like
gpiozero's ``MockFactory`` it ships in the package: tests drive the board's clock and read
the pulses it made.
"""

from __future__ import annotations

import os
import select
import threading
import time
import tty
from collections.abc import Callable
from typing import Protocol

import msgspec

from hardware.watchdog.config import WatchdogConfig
from hardware.watchdog.firmware import watchdog_logic
from hardware.watchdog.link import WatchdogLink
from hardware.watchdog.protocol import Event

#: How often a board on the real clock looks at its timers when nothing else wakes it.
IDLE_POLL_S = 0.05


class Clock(Protocol):
    def ticks_ms(self) -> int: ...


class Storage(Protocol):
    """Where the board keeps its state text (``FileStorage`` or ``MemoryStorage``)."""

    def load(self) -> str | None: ...

    def save(self, text: str) -> None: ...


class MonotonicClock:
    """Real time, in milliseconds, for a virtual board that should behave like a real one."""

    def ticks_ms(self) -> int:
        return time.monotonic_ns() // 1_000_000


class FakeClock:
    """Time that passes only when told to, so tests never depend on the machine's speed."""

    def __init__(self, start_ms: int = 0) -> None:
        self._now = start_ms
        self._lock = threading.Lock()

    def ticks_ms(self) -> int:
        with self._lock:
            return self._now

    def advance(self, ms: int) -> None:
        if ms < 0:
            raise ValueError("time does not run backwards")
        with self._lock:
            self._now += ms


class Pulse(msgspec.Struct, frozen=True):
    """One low pulse on the reset line: when it began and how long it lasted (None: still low)."""

    start_ms: int
    width_ms: int | None


class RecordingPin:
    """Stands in for ``machine.Pin``: remembers every level written, with its time."""

    def __init__(self, clock: Clock) -> None:
        self._clock = clock
        self.level: int | None = None
        self.history: list[tuple[int, int]] = []

    def value(self, v: int | None = None) -> int | None:
        if v is None:
            return self.level
        self.level = 1 if v else 0
        self.history.append((self._clock.ticks_ms(), self.level))
        return None

    def pulses(self) -> list[Pulse]:
        found: list[Pulse] = []
        start: int | None = None
        for t, level in self.history:
            if level == 0 and start is None:
                start = t
            elif level == 1 and start is not None:
                found.append(Pulse(start, t - start))
                start = None
        if start is not None:
            found.append(Pulse(start, None))
        return found


class PtyBoard:
    """A board at the far end of a pseudo-terminal: ``device`` is the path a host opens.

    A thread reads what the host writes and hands it to :meth:`_received`; subclasses answer
    with :meth:`_emit`. Everything a subclass does runs under ``lock``.
    """

    def __init__(self) -> None:
        self._master: int | None = None
        self._slave: int | None = None
        self._wake_r: int | None = None
        self._wake_w: int | None = None
        self._thread: threading.Thread | None = None
        self.lock = threading.RLock()
        #: Every line the board sent, in order, for tests to read.
        self.sent: list[str] = []
        self._master, self._slave = os.openpty()
        # Raw at once: the default line discipline would echo the board's own output back to
        # it and turn "\n" into "\r\n" before the host ever opens the port.
        tty.setraw(self._slave)
        # The board's own copy of the slave stays open, so the master never reads EIO when a
        # host closes the port: like a USB device that stays plugged in between two hosts.
        self.device = os.ttyname(self._slave)
        os.set_blocking(self._master, False)
        self._wake_r, self._wake_w = os.pipe()

    def _start(self) -> None:
        self._thread = threading.Thread(target=self._serve, name=f"pty-board {self.device}")
        self._thread.daemon = True
        self._thread.start()

    def close(self) -> None:
        """Stop the thread and close the pty; safe to call twice."""
        thread, self._thread = self._thread, None
        if thread is not None and self._wake_w is not None:
            os.write(self._wake_w, b"x")
            thread.join()
        for name in ("_master", "_slave", "_wake_r", "_wake_w"):
            fd = getattr(self, name)
            setattr(self, name, None)
            if fd is not None:
                os.close(fd)

    def __enter__(self) -> PtyBoard:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # --- for subclasses ---------------------------------------------------------------------

    def _received(self, data: bytes) -> None:
        """Bytes from the host (any chunking)."""

    def _idle(self) -> None:
        """Called after every wake-up, input or not."""

    def _poll_timeout(self) -> float | None:
        """Longest the thread may sleep with no input; None: until input comes."""
        return None

    def _emit(self, line: str) -> None:
        """Send one line to the host. Dropped if the host does not read, as a Pico's USB
        serial drops output nobody collects; a full buffer must never wedge the board."""
        self.sent.append(line)
        data = (line + "\n").encode("ascii", errors="replace")
        master = self._master
        while data and master is not None:
            try:
                written = os.write(master, data)
            except (BlockingIOError, OSError):
                return
            data = data[written:]

    # --- the thread -------------------------------------------------------------------------

    def _serve(self) -> None:
        master, wake = self._master, self._wake_r
        if master is None or wake is None:
            return
        while True:
            with self.lock:
                timeout = self._poll_timeout()
            ready, _, _ = select.select([master, wake], [], [], timeout)
            if wake in ready:
                return
            if master in ready:
                try:
                    data = os.read(master, 4096)
                except (BlockingIOError, InterruptedError):
                    data = b""
                except OSError:
                    # No host side at all: nothing to read until one appears.
                    data = b""
                    time.sleep(IDLE_POLL_S)
                if data:
                    with self.lock:
                        self._received(data)
            with self.lock:
                self._idle()


class VirtualBoard(PtyBoard):
    """The firmware's ``watchdog_logic`` under CPython, reachable at ``device``.

    With the default :class:`MonotonicClock` it keeps time like the real board; with a
    :class:`FakeClock` time moves only through :meth:`advance_ms`.
    """

    def __init__(
        self,
        *,
        clock: Clock | None = None,
        storage: Storage | None = None,
        pulse_ms: int = 200,
        grace_s: int = 300,
        max_resets: int = 3,
    ) -> None:
        super().__init__()
        self.clock: Clock = clock or MonotonicClock()
        self.pin = RecordingPin(self.clock)
        #: The board's "flash": keep it to reboot the board (or a new one) with its history.
        self.storage: Storage = storage if storage is not None else watchdog_logic.MemoryStorage()
        self._settings = {"pulse_ms": pulse_ms, "grace_s": grace_s, "max_resets": max_resets}
        try:
            self.wd = self._power_up()
            self._start()
        except BaseException:
            self.close()
            raise

    def _power_up(self) -> watchdog_logic.Watchdog:
        wd = watchdog_logic.Watchdog(
            self.pin, self.clock.ticks_ms, self.storage, self._emit, **self._settings
        )
        wd.start()
        return wd

    def reboot(self) -> None:
        """Power-cycle the board: runtime state lost, the stored state kept, BOOT sent."""
        with self.lock:
            self.wd = self._power_up()

    def advance_ms(self, ms: int) -> None:
        """Let ``ms`` of board time pass on a :class:`FakeClock`, stopping at every deadline
        the board names, as main.py's loop does: pulses start and end on the exact tick."""
        if not isinstance(self.clock, FakeClock):
            raise TypeError("advance_ms needs a board built with a FakeClock")
        with self.lock:
            run_board(self.wd, self.clock.advance, ms)

    def pulses(self) -> list[Pulse]:
        with self.lock:
            return self.pin.pulses()

    def _received(self, data: bytes) -> None:
        self.wd.feed(data)

    def _idle(self) -> None:
        self.wd.tick()

    def _poll_timeout(self) -> float | None:
        if isinstance(self.clock, FakeClock):
            return None  # nothing falls due until the test moves the clock
        due = self.wd.ms_until_due()
        return IDLE_POLL_S if due is None else min(due / 1000, IDLE_POLL_S)


def run_board(wd: watchdog_logic.Watchdog, advance: Callable[[int], None], ms: int) -> None:
    """Run the board's timers while ``advance`` moves its clock by ``ms`` in all, stepping
    from deadline to deadline (what main.py's loop does with its poll timeout)."""
    remaining = ms
    while True:
        wd.tick()
        if remaining <= 0:
            return
        due = wd.ms_until_due()
        # Just ticked, so nothing is due now; a 0 would only mean "due at once" again.
        step = remaining if due is None else min(remaining, max(due, 1))
        advance(step)
        remaining -= step


class VirtualWatchdogLink(WatchdogLink):
    """A :class:`WatchdogLink` to a :class:`VirtualBoard` it owns (or one it is given)."""

    backend_name = "virtual"

    def __init__(
        self,
        config: WatchdogConfig | None = None,
        *,
        board: PtyBoard | None = None,
        on_event: Callable[[Event], None] | None = None,
    ) -> None:
        self._own_board = board is None
        self.board: PtyBoard | None = board if board is not None else VirtualBoard()
        try:
            super().__init__(config, device=self.board.device, on_event=on_event)
        except BaseException:
            self.close()
            raise

    def close(self) -> None:
        """Close the link, then the board if this link made it; safe to call twice."""
        super().close()
        board, self.board = self.board, None
        if board is not None and self._own_board:
            board.close()
