"""The station's end of the serial link to the watchdog board (the ``real`` backend).

One request at a time: every non-empty line the station sends gets exactly one reply, in
order, so a reply that arrives after its request timed out can be recognised and dropped.
Unsolicited ``BOOT``/``RESET`` lines may come at any time and are kept as events.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections import deque
from collections.abc import Callable
from types import TracebackType

import serial

from hardware.exc import (
    HardwareConfigError,
    WatchdogBoardMissingError,
    WatchdogCommandError,
    WatchdogError,
    WatchdogLinkError,
    WatchdogProtocolError,
    WatchdogTimeoutError,
)
from hardware.watchdog import protocol
from hardware.watchdog.config import MAX_TIMEOUT_S, MIN_TIMEOUT_S, WatchdogConfig
from hardware.watchdog.protocol import BoardInfo, Event, Reply, ResetLog, Status

log = logging.getLogger(__name__)

#: Longest line accepted from the board: a REPL or a wrong device can spew without newlines.
MAX_LINE = 1024
#: How long one read waits before the reply deadline is looked at again.
READ_SLICE_S = 0.05
#: Heartbeat sequence numbers wrap below the firmware's limit.
SEQ_MODULUS = 2**31
#: Unsolicited lines kept for inspection.
EVENT_BACKLOG = 64


class WatchdogLink:
    """Talks to the watchdog board: hello, arm/disarm, heartbeats, status, reset history.

    Opening the link says HELLO (so a wrong device or a board at the REPL fails here, not at
    the first heartbeat); ``info`` keeps the answer. Closing never talks to the board: call
    :meth:`disarm` first for a planned stop, or the board will reset the Pi when its timeout
    runs out.
    """

    #: The backend name ``open_watchdog`` reports for this class.
    backend_name = "real"

    def __init__(
        self,
        config: WatchdogConfig | None = None,
        *,
        device: str | None = None,
        on_event: Callable[[Event], None] | None = None,
    ) -> None:
        # Handles first, so close() works whatever below raises.
        self._port: serial.Serial | None = None
        self._hb_thread: threading.Thread | None = None
        self._hb_stop = threading.Event()
        self._lock = threading.RLock()
        self._rx = bytearray()
        self._seq = 0
        self._late = 0
        self._want_armed_s: int | None = None
        self.config = config or WatchdogConfig()
        self.device = device or self.config.device
        #: How long each command waits for its reply; a hang guard (see WatchdogConfig).
        self.reply_timeout_s = self.config.reply_timeout_s
        self.on_event = on_event
        self.events: deque[Event] = deque(maxlen=EVENT_BACKLOG)
        self.info: BoardInfo | None = None
        #: The last error of the background heartbeat, None once a beat succeeds again.
        self.heartbeat_error: WatchdogError | None = None
        self._port = _open_port(self.device, self.config)
        try:
            self.hello()
        except BaseException:
            self.close()
            raise

    # --- life cycle -------------------------------------------------------------------------

    @property
    def closed(self) -> bool:
        return self._port is None

    def close(self) -> None:
        """Stop the heartbeat thread and release the port; safe to call twice."""
        self.stop_heartbeat()
        with self._lock:
            port, self._port = self._port, None
        if port is not None:
            port.close()

    def __enter__(self) -> WatchdogLink:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        state = "closed" if self.closed else "open"
        return f"<{type(self).__name__} {self.device} {state}>"

    # --- commands ---------------------------------------------------------------------------

    def hello(self) -> BoardInfo:
        """Greet the board and learn its version, state and reset history.

        HELLO is also the resynchronisation point: whatever was left in either direction (a
        half line from a killed process, replies nobody waited for, REPL noise) is skipped.
        """
        with self._lock:
            self._require_open()
            # An empty line ends any half line in the board's buffer; it gets no reply.
            self._send("")
            self._send("HELLO")
            deadline = time.monotonic() + self.reply_timeout_s
            while True:
                text = self._read_line(deadline)
                if text is None:
                    raise WatchdogTimeoutError(
                        f"no HELLO reply from {self.device} within"
                        f" {self.reply_timeout_s} s: is the watchdog firmware running?"
                    )
                try:
                    message = protocol.parse_line(text)
                except WatchdogProtocolError:
                    log.debug("skipping before HELLO: %r", text)
                    continue
                if isinstance(message, Event):
                    self._dispatch(message)
                elif message.ok and message.command == "HELLO":
                    break
            self._late = 0
            self.info = protocol.board_info(message.fields)
            if self.info.resets:
                log.warning(
                    "watchdog board %s has reset this station %d time(s), last for %s",
                    self.device,
                    self.info.resets,
                    self.info.last_reason,
                )
            return self.info

    def arm(self, timeout_s: int | None = None) -> None:
        """Start the board's timer: no heartbeat for ``timeout_s`` and it resets the Pi."""
        timeout_s = self.config.timeout_s if timeout_s is None else timeout_s
        if not MIN_TIMEOUT_S <= timeout_s <= MAX_TIMEOUT_S:
            raise HardwareConfigError(
                f"watchdog timeout must be {MIN_TIMEOUT_S}..{MAX_TIMEOUT_S} s, not {timeout_s}"
            )
        with self._lock:
            reply = self._request(f"ARM {timeout_s}", "ARM")
            if protocol.int_field(reply.fields, "timeout_s") != timeout_s:
                raise WatchdogProtocolError(f"board armed with {reply.fields}, not {timeout_s} s")
            self._want_armed_s = timeout_s

    def disarm(self) -> None:
        """Stop the board's timer (before a planned shutdown or maintenance)."""
        with self._lock:
            self._request("DISARM", "DISARM")
            self._want_armed_s = None

    def heartbeat(self) -> str:
        """Tell the board the station is alive; returns the board's state after it.

        A board found disarmed while this link armed it has rebooted (or was disarmed by
        someone else): it is armed again, since a silent watchdog is the failure that matters.
        """
        with self._lock:
            self._seq = (self._seq + 1) % SEQ_MODULUS
            seq = str(self._seq)
            reply = self._request(f"HB {seq}", "HB", args=(seq,))
            state = protocol.str_field(reply.fields, "state")
            if state == "disarmed" and self._want_armed_s is not None:
                log.warning("watchdog board %s was disarmed; arming it again", self.device)
                self.arm(self._want_armed_s)
                state = "armed"
            return state

    def status(self) -> Status:
        with self._lock:
            return protocol.status(self._request("STATUS", "STATUS").fields)

    def resets(self) -> ResetLog:
        """How many times the board reset the Pi, and why (the latest few reasons)."""
        with self._lock:
            return protocol.reset_log(self._request("RESETS", "RESETS").fields)

    def clear_resets(self) -> None:
        """Zero the board's reset count and log, once the station has recorded them."""
        with self._lock:
            self._request("CLEAR", "CLEAR")

    def poll_events(self) -> list[Event]:
        """Read whatever the board sent unasked since the last command; returns new events."""
        with self._lock:
            self._require_open()
            return self._drain()

    # --- background heartbeat ---------------------------------------------------------------

    def start_heartbeat(
        self, interval_s: float | None = None, healthy: Callable[[], bool] | None = None
    ) -> None:
        """Beat every ``interval_s`` from a thread, but only while ``healthy()`` says so.

        A thread beats even when the rest of the process is stuck, which would blind the
        watchdog: pass a ``healthy`` that checks the station's main loop made progress.
        """
        with self._lock:
            self._require_open()
            if self._hb_thread is not None:
                raise RuntimeError("the heartbeat thread is already running")
            interval = self.config.heartbeat_interval_s if interval_s is None else interval_s
            if interval <= 0:
                raise HardwareConfigError(f"heartbeat interval must be positive, not {interval}")
            self._hb_stop.clear()
            self._hb_thread = threading.Thread(
                target=self._heartbeat_loop,
                args=(interval, healthy),
                name=f"watchdog-heartbeat {self.device}",
                daemon=True,
            )
            self._hb_thread.start()

    def stop_heartbeat(self) -> None:
        """Stop the heartbeat thread, if any; the board's timer keeps running."""
        thread, self._hb_thread = self._hb_thread, None
        if thread is not None:
            self._hb_stop.set()
            thread.join()

    def _heartbeat_loop(self, interval: float, healthy: Callable[[], bool] | None) -> None:
        while True:
            if self._is_healthy(healthy):
                try:
                    self.heartbeat()
                    self.heartbeat_error = None
                except WatchdogError as exc:
                    # Keep trying: a replugged board or a passing glitch must not end the beats.
                    if self.heartbeat_error is None:
                        log.warning("watchdog heartbeat failed: %s", exc)
                    self.heartbeat_error = exc
            if self._hb_stop.wait(interval):
                return

    @staticmethod
    def _is_healthy(healthy: Callable[[], bool] | None) -> bool:
        if healthy is None:
            return True
        try:
            return bool(healthy())
        except Exception:
            # A health check that crashes is no evidence of health.
            log.exception("watchdog health check failed; skipping the heartbeat")
            return False

    # --- the wire ---------------------------------------------------------------------------

    def _require_open(self) -> serial.Serial:
        if self._port is None:
            raise WatchdogLinkError(f"the watchdog link to {self.device} is closed")
        return self._port

    def _request(self, line: str, command: str, args: tuple[str, ...] = ()) -> Reply:
        """Send one command line and return its ``OK`` reply; ``ERR`` raises."""
        self._require_open()
        self._drain()
        self._send(line)
        deadline = time.monotonic() + self.reply_timeout_s
        while True:
            text = self._read_line(deadline)
            if text is None:
                # Its reply may still come; it will be recognised as late and dropped.
                self._late += 1
                raise WatchdogTimeoutError(
                    f"no reply to {line!r} from {self.device} within {self.reply_timeout_s} s"
                )
            message = protocol.parse_line(text)
            if isinstance(message, Event):
                self._dispatch(message)
                continue
            if self._late and (
                not message.ok or message.command != command or message.args[: len(args)] != args
            ):
                self._late -= 1
                log.debug("dropping a late reply: %r", text)
                continue
            if not message.ok:
                raise WatchdogCommandError(
                    f"the board refused {line!r}: {message.code} {message.detail}".rstrip(),
                    code=message.code,
                )
            if message.command != command or message.args[: len(args)] != args:
                raise WatchdogProtocolError(f"expected a reply to {line!r}, got {text!r}")
            return message

    def _drain(self) -> list[Event]:
        """Handle lines that arrived while nobody was waiting (events, late replies)."""
        events: list[Event] = []
        while True:
            text = self._read_line(deadline=None)
            if text is None:
                return events
            try:
                message = protocol.parse_line(text)
            except WatchdogProtocolError as exc:
                log.warning("ignoring a line from the watchdog board: %s", exc)
                continue
            if isinstance(message, Event):
                self._dispatch(message)
                events.append(message)
            elif self._late:
                self._late -= 1
            else:
                log.warning("ignoring an unrequested reply from the watchdog board: %r", text)

    def _dispatch(self, event: Event) -> None:
        self.events.append(event)
        if event.kind == "BOOT":
            log.warning("watchdog board %s restarted: %s", self.device, event.fields)
        elif event.kind == "RESET":
            log.error("watchdog board %s is resetting the Pi: %s", self.device, event.fields)
        if self.on_event is not None:
            try:
                self.on_event(event)
            except Exception:
                # The caller's bug must not fail the heartbeat that happened to read the line.
                log.exception("watchdog on_event callback failed for %s", event.kind)

    def _send(self, line: str) -> None:
        port = self._require_open()
        try:
            port.write(line.encode("ascii") + b"\n")
            port.flush()
        except (OSError, serial.SerialException) as exc:
            raise WatchdogLinkError(f"cannot write to {self.device}: {exc}") from exc

    def _read_line(self, deadline: float | None) -> str | None:
        """The next line from the board, or None once ``deadline`` passes (None: don't wait)."""
        port = self._require_open()
        while True:
            end = self._rx.find(b"\n")
            if end >= 0:
                raw = bytes(self._rx[:end])
                del self._rx[: end + 1]
                # The board may say "\r\n" (MicroPython's stdout does); non-ASCII is kept
                # visible as U+FFFD so the protocol error shows what came.
                return raw.rstrip(b"\r").decode("ascii", errors="replace")
            if len(self._rx) > MAX_LINE:
                self._rx.clear()
                raise WatchdogProtocolError(
                    f"{self.device} sent over {MAX_LINE} bytes without a newline"
                )
            try:
                waiting = port.in_waiting
                if waiting == 0 and (deadline is None or time.monotonic() >= deadline):
                    return None
                chunk = port.read(waiting or 1)
            except (OSError, serial.SerialException) as exc:
                raise WatchdogLinkError(f"cannot read from {self.device}: {exc}") from exc
            self._rx += chunk


def _open_port(device: str, config: WatchdogConfig) -> serial.Serial:
    if not os.path.exists(device):
        raise WatchdogBoardMissingError(f"no watchdog board at {device}")
    try:
        # exclusive: a second station process on the same board would steal its replies.
        return serial.Serial(
            device,
            baudrate=config.baud,
            timeout=READ_SLICE_S,
            write_timeout=config.reply_timeout_s,
            exclusive=True,
        )
    except (OSError, serial.SerialException) as exc:
        raise WatchdogLinkError(f"cannot open {device}: {exc}") from exc
