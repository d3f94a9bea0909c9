"""The watchdog board: its firmware under real MicroPython and CPython, and the host link.

Board time is a fake clock moved by the tests, never the wall clock: a pulse "after 30 s"
is checked to the millisecond without anyone waiting 30 s. Real time appears only as hang
guards (reply timeouts, ``wait_until``), never in an assertion.
"""

from __future__ import annotations

import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, Protocol

import msgspec
import pytest

from hardware.backend import BackendFallbackWarning
from hardware.exc import (
    BackendUnavailableError,
    HardwareConfigError,
    WatchdogBoardMissingError,
    WatchdogCommandError,
    WatchdogError,
    WatchdogLinkError,
    WatchdogProtocolError,
    WatchdogTimeoutError,
)
from hardware.watchdog import WatchdogConfig, WatchdogLink, open_watchdog
from hardware.watchdog.firmware import watchdog_logic
from hardware.watchdog.mpsim import MicroPythonPtyBoard, MicroPythonRunner
from hardware.watchdog.protocol import Event, Reply, parse_line
from hardware.watchdog.virtual import (
    FakeClock,
    PtyBoard,
    Pulse,
    RecordingPin,
    VirtualBoard,
    VirtualWatchdogLink,
    run_board,
)
from tests.helpers import wait_until

REPO = Path(__file__).resolve().parent.parent
VERSION = watchdog_logic.VERSION

# --- the firmware, under both interpreters ------------------------------------------------


class Board(Protocol):
    """What a firmware test drives: MicroPythonRunner, or CPythonBoard below."""

    boot_output: list[str]

    def send(self, text: str) -> list[str]: ...

    def send_bytes(self, data: bytes) -> list[str]: ...

    def advance(self, ms: int) -> list[str]: ...

    def pulses(self) -> list[Pulse]: ...

    def close(self) -> None: ...


class CPythonBoard:
    """The same firmware module under CPython, with the interface of MicroPythonRunner."""

    def __init__(
        self,
        state_path: Path,
        *,
        clock_start: int = 0,
        pulse_ms: int = 200,
        grace_s: int = 300,
        max_resets: int = 3,
        storage: Any = None,
    ) -> None:
        self._start = clock_start
        self.clock = FakeClock(clock_start)
        self.pin = RecordingPin(self.clock)
        self._out: list[str] = []
        self.wd = watchdog_logic.Watchdog(
            self.pin,
            self.clock.ticks_ms,
            storage or watchdog_logic.FileStorage(str(state_path)),
            self._out.append,
            pulse_ms=pulse_ms,
            grace_s=grace_s,
            max_resets=max_resets,
        )
        self.wd.start()
        self.boot_output = self._take()

    def send(self, text: str) -> list[str]:
        return self.send_bytes(text.encode("latin-1") + b"\n")

    def send_bytes(self, data: bytes) -> list[str]:
        self.wd.feed(data)
        return self._take()

    def advance(self, ms: int) -> list[str]:
        run_board(self.wd, self.clock.advance, ms)
        return self._take()

    def pulses(self) -> list[Pulse]:
        return [Pulse(p.start_ms - self._start, p.width_ms) for p in self.pin.pulses()]

    def close(self) -> None:
        pass

    def _take(self) -> list[str]:
        out = list(self._out)
        self._out.clear()  # the board holds a bound append to this very list
        return out


PowerOn = Callable[..., Board]


@pytest.fixture(params=["cpython", "micropython"])
def power_on(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[PowerOn]:
    """Powers a board up on one state file (its flash); calling it again is a reboot."""
    made: list[Board] = []
    state = tmp_path / "watchdog_state.txt"

    def start(**options: Any) -> Board:
        if made:
            made[-1].close()  # one board, one flash: the previous power-on ends first
        board: Board
        if request.param == "micropython":
            board = MicroPythonRunner(state, **options)
        else:
            board = CPythonBoard(state, **options)
        made.append(board)
        return board

    yield start
    for board in made:
        board.close()


def one(lines: list[str]) -> Reply | Event:
    """The single line a board said, parsed."""
    assert len(lines) == 1, lines
    return parse_line(lines[0])


def ok(lines: list[str], command: str) -> dict[str, str]:
    """The fields of the single ``OK <command>`` reply in ``lines``."""
    reply = one(lines)
    assert isinstance(reply, Reply) and reply.ok and reply.command == command, lines
    return reply.fields


def err(lines: list[str]) -> str:
    """The code of the single ``ERR`` reply in ``lines``."""
    reply = one(lines)
    assert isinstance(reply, Reply) and not reply.ok, lines
    return reply.code


def test_boot_and_hello_report_version_and_reset_count(power_on: PowerOn) -> None:
    board = power_on()
    boot = one(board.boot_output)
    assert isinstance(boot, Event) and boot.kind == "BOOT"
    assert boot.fields == {
        "version": VERSION,
        "proto": "1",
        "state": "disarmed",
        "resets": "0",
        "last_reason": "none",
        "store": "new",
    }
    hello = ok(board.send("HELLO"), "HELLO")
    assert hello["version"] == VERSION and hello["proto"] == "1"
    assert hello["resets"] == "0" and hello["last_reason"] == "none"


def test_heartbeats_in_time_never_pulse(power_on: PowerOn) -> None:
    board = power_on()
    assert ok(board.send("ARM 30"), "ARM") == {"timeout_s": "30"}
    for seq in range(1, 21):
        assert board.advance(29_999) == []
        assert ok(board.send(f"HB {seq}"), "HB") == {"state": "armed"}
    assert board.pulses() == []
    status = ok(board.send("STATUS"), "STATUS")
    assert status["state"] == "armed" and status["last_seq"] == "20"
    assert status["left_ms"] == "30000" and status["resets"] == "0"


def test_silence_while_armed_gives_one_pulse_of_the_configured_width(power_on: PowerOn) -> None:
    board = power_on(pulse_ms=250, grace_s=300)
    ok(board.send("ARM 30"), "ARM")
    board.advance(10_000)
    ok(board.send("HB 1"), "HB")  # at t=10 s: the board may reset at t=40 s, not before

    assert board.advance(29_999) == []
    assert board.pulses() == []
    reset = one(board.advance(1))
    assert isinstance(reset, Event) and reset.kind == "RESET"
    assert reset.fields == {"reason": "hb_timeout", "count": "1", "pulse_ms": "250"}
    assert board.pulses() == [Pulse(40_000, None)]  # the line is low right now

    board.advance(250)
    assert board.pulses() == [Pulse(40_000, 250)]
    # The Pi gets the grace period to come back: no second pulse inside it.
    assert board.advance(299_000) == []
    assert board.pulses() == [Pulse(40_000, 250)]

    status = ok(board.send("STATUS"), "STATUS")
    assert status["state"] == "grace" and status["resets"] == "1"
    assert status["last_reason"] == "hb_timeout" and status["streak"] == "1"
    assert ok(board.send("RESETS"), "RESETS") == {"count": "1", "log": "hb_timeout"}


def test_armed_without_any_heartbeat_is_its_own_reason(power_on: PowerOn) -> None:
    board = power_on()
    ok(board.send("ARM 5"), "ARM")
    reset = one(board.advance(5_000))
    assert isinstance(reset, Event) and reset.fields["reason"] == "no_hb"
    assert board.pulses() == [Pulse(5_000, None)]


def test_disarm_means_no_pulse(power_on: PowerOn) -> None:
    board = power_on()
    ok(board.send("ARM 10"), "ARM")
    ok(board.send("HB 1"), "HB")
    board.advance(9_000)
    assert ok(board.send("DISARM"), "DISARM") == {}
    assert board.advance(3_600_000) == []
    assert board.pulses() == []
    # Heartbeats to a disarmed board are answered but arm nothing.
    assert ok(board.send("HB 2"), "HB") == {"state": "disarmed"}
    assert board.advance(3_600_000) == []
    assert board.pulses() == []


def test_a_started_pulse_is_never_cut_short(power_on: PowerOn) -> None:
    board = power_on(pulse_ms=500)
    ok(board.send("ARM 1"), "ARM")
    board.advance(1_100)  # 100 ms into the pulse
    ok(board.send("DISARM"), "DISARM")
    ok(board.send("HB 9"), "HB")
    board.advance(10_000)
    assert board.pulses() == [Pulse(1_000, 500)]
    assert ok(board.send("STATUS"), "STATUS")["state"] == "disarmed"


def test_after_a_reboot_the_board_reports_its_resets_and_why(power_on: PowerOn) -> None:
    board = power_on()
    ok(board.send("ARM 20"), "ARM")
    ok(board.send("HB 1"), "HB")
    board.advance(20_000 + 200)  # a reset, and its pulse over
    ok(board.send("HB 2"), "HB")  # the Pi came back...
    board.advance(20_000 + 200)  # ...and hung again
    assert len(board.pulses()) == 2

    board = power_on()  # the board loses power and starts again on the same flash
    boot = one(board.boot_output)
    assert isinstance(boot, Event)
    assert boot.fields["resets"] == "2" and boot.fields["last_reason"] == "hb_timeout"
    assert boot.fields["store"] == "ok"
    hello = ok(board.send("HELLO"), "HELLO")
    assert hello["resets"] == "2" and hello["last_reason"] == "hb_timeout"
    assert ok(board.send("RESETS"), "RESETS") == {"count": "2", "log": "hb_timeout,hb_timeout"}
    assert board.pulses() == []  # a new power-on: this run has pulsed nothing yet

    assert ok(board.send("CLEAR"), "CLEAR") == {"count": "0"}
    board = power_on()
    boot = one(board.boot_output)
    assert isinstance(boot, Event)
    assert boot.fields["resets"] == "0" and boot.fields["last_reason"] == "none"


def test_a_board_that_boots_armed_gives_the_host_the_grace_period(power_on: PowerOn) -> None:
    board = power_on(grace_s=60)
    ok(board.send("ARM 20"), "ARM")
    board = power_on(grace_s=60)  # e.g. the Pi's supply dropped and took the board with it
    boot = one(board.boot_output)
    assert isinstance(boot, Event) and boot.fields["state"] == "grace"
    assert board.advance(59_999) == []
    reset = one(board.advance(1))
    assert isinstance(reset, Event) and reset.fields["reason"] == "boot_timeout"

    board = power_on(grace_s=60)
    ok(board.send("HB 1"), "HB")  # the host is back in time: armed with its own timeout
    status = ok(board.send("STATUS"), "STATUS")
    assert status["state"] == "armed" and status["left_ms"] == "20000"


def test_the_board_gives_up_after_max_resets_and_a_heartbeat_rearms_it(
    power_on: PowerOn,
) -> None:
    board = power_on(pulse_ms=100, grace_s=60, max_resets=3)
    ok(board.send("ARM 10"), "ARM")
    ok(board.send("HB 1"), "HB")
    board.advance(24 * 3_600_000)  # a whole day with a Pi that never comes back
    assert board.pulses() == [Pulse(10_000, 100), Pulse(70_100, 100), Pulse(130_200, 100)]
    status = ok(board.send("STATUS"), "STATUS")
    assert status["state"] == "gaveup" and status["streak"] == "3"
    assert ok(board.send("RESETS"), "RESETS")["log"] == "hb_timeout,boot_timeout,boot_timeout"

    assert ok(board.send("HB 2"), "HB") == {"state": "armed"}
    assert ok(board.send("STATUS"), "STATUS")["streak"] == "0"
    board.advance(10_000)
    assert len(board.pulses()) == 4


MALFORMED = [
    (b"FOO\n", "unknown_command"),
    (b"ARM\n", "bad_argument"),
    (b"ARM abc\n", "bad_argument"),
    (b"ARM 0\n", "bad_argument"),
    (b"ARM 86401\n", "bad_argument"),
    (b"ARM -5\n", "bad_argument"),
    (b"ARM 1.5\n", "bad_argument"),
    (b"ARM 10 20\n", "bad_argument"),
    (b"HB\n", "bad_argument"),
    (b"HB x\n", "bad_argument"),
    (b"HB -1\n", "bad_argument"),
    (b"HB 2147483648\n", "bad_argument"),
    (b"HB 99999999999999999999\n", "bad_argument"),
    (b"HELLO there\n", "bad_argument"),
    (b"STATUS now\n", "bad_argument"),
    (b"\xff\xfe\n", "bad_byte"),
    (b"HB \x00 1\n", "bad_byte"),
    (b"\x1b[A\n", "bad_byte"),
    ("HB ๑\n".encode(), "bad_byte"),  # a Thai digit is still not ASCII
    (b"A" * 500 + b"\n", "line_too_long"),
]


def test_malformed_lines_get_err_and_never_feed_the_watchdog(power_on: PowerOn) -> None:
    board = power_on(pulse_ms=200)
    for data, code in MALFORMED:
        ok(board.send("ARM 10"), "ARM")
        board.advance(9_000)
        assert err(board.send_bytes(data)) == code, data
        # Garbage is not a heartbeat: the reset still comes 10 s after ARM.
        reset = one(board.advance(1_000))
        assert isinstance(reset, Event) and reset.fields["reason"] == "no_hb", data
        board.advance(200)  # let the pulse end
    assert len(board.pulses()) == len(MALFORMED)
    assert all(p.width_ms == 200 for p in board.pulses())
    assert ok(board.send("HELLO"), "HELLO")["resets"] == str(len(MALFORMED))


def test_line_framing_chunks_crlf_blank_lines_and_case(power_on: PowerOn) -> None:
    board = power_on()
    assert board.send_bytes(b"HEL") == []
    assert ok(board.send_bytes(b"LO\n"), "HELLO")["version"] == VERSION
    assert len(board.send_bytes(b"STATUS\r\n")) == 1  # "\r\n" is one line ending, not two
    assert board.send_bytes(b"\n\r\n   \n") == []  # blank lines get no reply
    assert ok(board.send("hb 5"), "HB") == {"state": "disarmed"}
    # Several lines in one chunk: one reply each, in order.
    replies = board.send_bytes(b"HB 6\nBAD\nHB 7\n")
    assert [r.split()[0] for r in replies] == ["OK", "ERR", "OK"]


def test_the_tick_counter_wrapping_changes_nothing(tmp_path: Path) -> None:
    # Under MicroPython ticks_ms wraps (every 2**30 ms on the rp2 port); start just before.
    with MicroPythonRunner(tmp_path / "state.txt", clock_start=2**30 - 3_000) as runner:
        ok(runner.send("ARM 10"), "ARM")
        ok(runner.send("HB 1"), "HB")
        assert runner.advance(9_999) == []
        runner.advance(1 + 200)
        assert runner.pulses() == [Pulse(10_000, 200)]


def test_main_py_drives_an_open_drain_pin_released_at_boot(tmp_path: Path) -> None:
    with MicroPythonRunner(tmp_path / "state.txt") as runner:
        pin = runner.pin()
        assert pin["id"] == 15 and pin["open_drain"] is True and pin["level"] == 1


def test_main_py_serve_loop_under_micropython(tmp_path: Path) -> None:
    """main.serve() itself, with scripted serial input, on the simulated clock."""
    script = [(0, b"HELLO\nARM 1\n"), (500, b"HB 1\n"), (1_000, b"HB"), (1_400, b" 2\n")]
    script += [(5_000, b"STATUS\n")]
    with MicroPythonRunner(tmp_path / "state.txt") as runner:
        said = [parse_line(line) for line in runner.serve(script, until_ms=6_000)]
        assert [(m.kind if isinstance(m, Event) else m.command) for m in said] == [
            "BOOT",
            "HELLO",
            "ARM",
            "HB",
            "HB",
            "RESET",
            "STATUS",
        ]
        # The heartbeat that ended at 1.4 s counts from then: the reset is due at 2.4 s sharp.
        assert runner.pulses() == [Pulse(2_400, 200)]


@pytest.mark.parametrize(
    "content",
    [
        "garbage\x00\n",
        "wd1\nresets=x\n",
        "wd1\nresets=-1\nlog=\narmed_s=0\nstreak=0\n",
        "wd1\nresets=1\nlog=evil reason\narmed_s=0\nstreak=0\n",
    ],
)
def test_a_corrupt_state_file_is_reported_and_replaced(
    power_on: PowerOn, tmp_path: Path, content: str
) -> None:
    (tmp_path / "watchdog_state.txt").write_text(content)
    board = power_on()
    boot = one(board.boot_output)
    assert isinstance(boot, Event) and boot.fields["store"] == "corrupt"
    assert boot.fields["resets"] == "0" and boot.fields["last_reason"] == "none"
    ok(board.send("ARM 5"), "ARM")
    board = power_on()
    boot = one(board.boot_output)
    assert isinstance(boot, Event) and boot.fields["store"] == "ok"
    assert boot.fields["state"] == "grace"


def test_a_failing_flash_never_stops_a_reset(tmp_path: Path) -> None:
    class BrokenFlash:
        def load(self) -> str | None:
            return None

        def save(self, text: str) -> None:
            raise OSError(28, "No space left on device")

    board = CPythonBoard(tmp_path / "unused", storage=BrokenFlash())
    ok(board.send("ARM 5"), "ARM")
    board.advance(5_000 + 200)
    assert board.pulses() == [Pulse(5_000, 200)]
    assert ok(board.send("HELLO"), "HELLO")["store"] == "error"


# --- the host link, over a pty ------------------------------------------------------------


CONFIG = WatchdogConfig(timeout_s=30, heartbeat_interval_s=10, reply_timeout_s=10)


@pytest.fixture
def fake_board() -> Iterator[VirtualBoard]:
    board = VirtualBoard(clock=FakeClock(), pulse_ms=200, grace_s=300)
    yield board
    board.close()


@pytest.fixture
def link(fake_board: VirtualBoard) -> Iterator[VirtualWatchdogLink]:
    with VirtualWatchdogLink(CONFIG, board=fake_board) as link:
        yield link


def test_link_hello_arm_heartbeat_and_reset(
    link: VirtualWatchdogLink, fake_board: VirtualBoard
) -> None:
    assert link.info is not None
    assert link.info.version == VERSION and link.info.resets == 0
    assert link.info.state == "disarmed" and link.info.store == "new"
    link.arm()
    for _ in range(5):
        fake_board.advance_ms(25_000)
        assert link.heartbeat() == "armed"
    assert fake_board.pulses() == []
    assert link.status().last_seq == 5

    fake_board.advance_ms(30_000 + 200)
    assert fake_board.pulses() == [Pulse(155_000, 200)]
    status = link.status()  # its reply comes after the RESET line, so that is in by now
    assert status.state == "grace" and status.resets == 1 and status.last_reason == "hb_timeout"
    assert [e.kind for e in link.events] == ["RESET"]
    assert link.events[0].fields["reason"] == "hb_timeout"
    assert link.resets().reasons == ("hb_timeout",)

    assert link.heartbeat() == "armed"  # the station is back
    link.clear_resets()
    assert link.resets().count == 0
    link.disarm()
    fake_board.advance_ms(3_600_000)
    assert len(fake_board.pulses()) == 1


def test_link_rearms_a_board_that_came_back_disarmed(
    link: VirtualWatchdogLink, fake_board: VirtualBoard
) -> None:
    seen: list[str] = []

    def on_event(event: Event) -> None:
        seen.append(event.kind)
        raise RuntimeError("a broken callback must not break the link")

    link.on_event = on_event
    link.arm(20)
    assert link.heartbeat() == "armed"
    # A board swapped for a blank one (or one that lost its flash) comes up disarmed.
    fake_board.storage = watchdog_logic.MemoryStorage()
    fake_board.reboot()
    assert link.heartbeat() == "armed"
    assert [e.kind for e in link.events] == ["BOOT"] == seen
    assert link.status().timeout_s == 20
    # A board that kept its flash comes up in grace; the next heartbeat arms it again.
    fake_board.reboot()
    assert link.heartbeat() == "armed"


def test_background_heartbeat_beats_only_while_healthy(
    link: VirtualWatchdogLink, fake_board: VirtualBoard
) -> None:
    link.arm()
    healthy = threading.Event()
    healthy.set()
    unhealthy_checks = 0

    def check() -> bool:
        nonlocal unhealthy_checks
        if healthy.is_set():
            return True
        unhealthy_checks += 1
        if unhealthy_checks % 2:
            raise RuntimeError("a crashing health check counts as unhealthy")
        return False

    link.start_heartbeat(interval_s=0.01, healthy=check)
    with pytest.raises(RuntimeError):
        link.start_heartbeat()
    wait_until(lambda: (fake_board.wd.last_seq or 0) >= 3, "three heartbeats")
    healthy.clear()
    # Every beat is answered before the next check, so after one unhealthy check no more come.
    wait_until(lambda: unhealthy_checks >= 1, "an unhealthy check")
    beats = fake_board.wd.last_seq
    wait_until(lambda: unhealthy_checks >= 4, "more unhealthy checks")
    assert fake_board.wd.last_seq == beats
    assert link.heartbeat_error is None
    link.stop_heartbeat()
    link.stop_heartbeat()


def test_link_close_is_safe_twice_and_final(fake_board: VirtualBoard) -> None:
    link = VirtualWatchdogLink(CONFIG, board=fake_board)
    link.start_heartbeat(interval_s=0.01)
    link.close()
    link.close()
    assert link.closed
    with pytest.raises(WatchdogLinkError):
        link.heartbeat()


class ScriptedBoard(PtyBoard):
    """A pty board whose answers the test writes: for errors the firmware never makes."""

    def __init__(self, answer: Callable[[str], list[str]]) -> None:
        super().__init__()
        self.answer = answer
        self.received: list[str] = []
        self._partial = b""
        self._start()

    def say(self, line: str) -> None:
        with self.lock:
            self._emit(line)

    def _received(self, data: bytes) -> None:
        self._partial += data
        while b"\n" in self._partial:
            raw, _, self._partial = self._partial.partition(b"\n")
            if raw:
                self.received.append(raw.decode())
                for line in self.answer(raw.decode()):
                    self._emit(line)


HELLO_REPLY = (
    "OK HELLO version=9.9 proto=1 state=disarmed timeout_s=0 resets=0 last_reason=none store=ok"
)


def scripted(answers: dict[str, list[str]]) -> Callable[[str], list[str]]:
    return lambda line: answers.get(line, [HELLO_REPLY] if line == "HELLO" else [])


@pytest.fixture
def make_scripted() -> Iterator[Callable[[Callable[[str], list[str]]], ScriptedBoard]]:
    boards: list[ScriptedBoard] = []

    def make(answer: Callable[[str], list[str]]) -> ScriptedBoard:
        board = ScriptedBoard(answer)
        boards.append(board)
        return board

    yield make
    for board in boards:
        board.close()


#: For the one request in a test that is meant to go unanswered; every other request keeps
#: CONFIG's generous timeout, so a slow machine never turns a reply into a timeout.
SHORT_WAIT_S = 0.3


def test_link_hello_skips_noise_and_stale_replies(make_scripted: Any) -> None:
    noisy = {"HELLO": ["MicroPython v1.27 >>>", "ERR unknown_command X", "OK HB 3", HELLO_REPLY]}
    board = make_scripted(scripted(noisy))
    with VirtualWatchdogLink(CONFIG, board=board) as link:
        assert link.info is not None and link.info.version == "9.9"


def test_link_errors(make_scripted: Any) -> None:
    answers = {
        "ARM 30": ["ERR bad_argument ARM <timeout_s 1..86400>"],
        "STATUS": ["OK DISARM"],
        "RESETS": ["Traceback (most recent call last):"],
        "DISARM": ["OK DISARM"],
    }
    board = make_scripted(scripted(answers))
    with VirtualWatchdogLink(CONFIG, board=board) as link:
        with pytest.raises(WatchdogCommandError) as refused:
            link.arm()
        assert refused.value.code == "bad_argument"
        assert isinstance(refused.value, ValueError)
        with pytest.raises(WatchdogProtocolError):
            link.status()  # answered for the wrong command
        with pytest.raises(WatchdogProtocolError):
            link.resets()  # answered with something that is no protocol line
        link.reply_timeout_s = SHORT_WAIT_S
        with pytest.raises(WatchdogTimeoutError) as silent:
            link.clear_resets()  # never answered
        link.reply_timeout_s = CONFIG.reply_timeout_s
        assert isinstance(silent.value, TimeoutError)
        assert isinstance(silent.value, ConnectionError)
        with pytest.raises(HardwareConfigError):
            link.arm(0)
        link.disarm()  # after all that, the link still works
        board.close()  # the board is unplugged
        with pytest.raises(WatchdogLinkError):
            link.disarm()


def test_link_drops_a_reply_that_came_after_its_timeout(make_scripted: Any) -> None:
    held: list[str] = []

    def answer(line: str) -> list[str]:
        if line == "HELLO":
            return [HELLO_REPLY]
        if line == "HB 1":
            held.append("OK HB 1 state=armed")  # answered only later, by the test
            return []
        seq = line.split()[1]
        return [f"OK HB {seq} state=armed"]

    board = make_scripted(answer)
    with VirtualWatchdogLink(CONFIG, board=board) as link:
        link.reply_timeout_s = SHORT_WAIT_S
        with pytest.raises(WatchdogTimeoutError):
            link.heartbeat()
        link.reply_timeout_s = CONFIG.reply_timeout_s
        board.say(held.pop())
        assert link.heartbeat() == "armed"  # HB 2's reply, not HB 1's
        assert board.received[-1] == "HB 2"
        assert link.heartbeat() == "armed"


def test_link_refuses_a_board_of_another_protocol(make_scripted: Any) -> None:
    other = HELLO_REPLY.replace("proto=1", "proto=2")
    board = make_scripted(lambda line: [other] if line == "HELLO" else [])
    with pytest.raises(WatchdogProtocolError, match="protocol 2"):
        VirtualWatchdogLink(CONFIG, board=board)


def test_link_times_out_on_a_silent_device(make_scripted: Any) -> None:
    board = make_scripted(lambda line: [])  # e.g. a board without the firmware
    quick = WatchdogConfig(device=board.device, reply_timeout_s=SHORT_WAIT_S)
    with pytest.raises(WatchdogTimeoutError, match="firmware running"):
        WatchdogLink(quick)


# --- the host link against the firmware under real MicroPython ---------------------------


def test_link_against_micropython_firmware(tmp_path: Path) -> None:
    board = MicroPythonPtyBoard(tmp_path / "state.txt", pulse_ms=200, grace_s=300)
    try:
        with VirtualWatchdogLink(CONFIG, board=board) as link:
            assert link.info is not None and link.info.version == VERSION
            link.arm(30)
            assert link.heartbeat() == "armed"
            board.advance_ms(29_000)
            assert link.heartbeat() == "armed"
            board.advance_ms(29_000)
            assert board.pulses() == []
            board.advance_ms(1_000 + 200)  # 30 s since the last heartbeat, then the pulse
            assert board.pulses() == [Pulse(59_000, 200)]
            assert link.status().state == "grace"
            assert [e.kind for e in link.events] == ["RESET"]

            board.reboot()  # a new MicroPython process on the same flash
            assert link.heartbeat() == "armed"
            assert link.events[-1].kind == "BOOT"
            assert link.events[-1].fields["resets"] == "1"
            info = link.hello()
            assert info.resets == 1 and info.last_reason == "hb_timeout"
            assert link.resets().reasons == ("hb_timeout",)
    finally:
        board.close()


# --- backends, config, boundaries ---------------------------------------------------------


def test_backend_by_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STATION_WATCHDOG_BACKEND", "virtual")
    with open_watchdog() as link:
        assert isinstance(link, VirtualWatchdogLink) and link.backend_name == "virtual"
        assert link.info is not None and link.info.version == VERSION


def test_backend_real_needs_the_board(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("STATION_WATCHDOG_BACKEND", raising=False)
    missing = WatchdogConfig(device=str(tmp_path / "ttyACM9"))
    with pytest.raises(WatchdogBoardMissingError) as exc:
        open_watchdog(missing, "real")
    assert isinstance(exc.value, ConnectionError) and isinstance(exc.value, BackendUnavailableError)
    with pytest.warns(BackendFallbackWarning, match="ttyACM9"), open_watchdog(missing) as link:
        assert link.backend_name == "virtual"
    with pytest.raises(HardwareConfigError):
        open_watchdog(missing, "carrier-pigeon")


def test_backend_real_opens_a_serial_device(fake_board: VirtualBoard) -> None:
    config = WatchdogConfig(device=fake_board.device, backend="real")
    with open_watchdog(config) as link:
        assert type(link) is WatchdogLink and link.info is not None
        assert link.info.version == VERSION


def test_config() -> None:
    decoded = msgspec.convert({"device": "/dev/ttyACM1", "timeout_s": 90}, WatchdogConfig)
    assert decoded.device == "/dev/ttyACM1" and decoded.heartbeat_interval_s == 10.0
    with pytest.raises(msgspec.ValidationError):
        msgspec.convert({"timeout_s": 10, "heartbeat_interval_s": 6}, WatchdogConfig)
    with pytest.raises(msgspec.ValidationError):
        msgspec.convert({"dev": "/dev/ttyACM1"}, WatchdogConfig)
    for bad in ({"timeout_s": 0}, {"baud": 0}, {"device": ""}, {"reply_timeout_s": 0}):
        with pytest.raises(HardwareConfigError):
            WatchdogConfig(**bad)


def test_errors_share_one_root() -> None:
    for exc_type in (
        WatchdogBoardMissingError,
        WatchdogCommandError,
        WatchdogLinkError,
        WatchdogProtocolError,
        WatchdogTimeoutError,
    ):
        assert issubclass(exc_type, WatchdogError)


def test_the_watchdog_imports_no_application_code() -> None:
    code = (
        "import sys\n"
        "import hardware.watchdog, hardware.watchdog.virtual, hardware.watchdog.mpsim\n"
        "bad = {'flask', 'paho', 'sync_server', 'device'}\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in bad))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "[]"
