"""The firmware under real MicroPython (WebAssembly, in Node), driven from Python.

:class:`MicroPythonRunner` starts ``sim/run.mjs`` and speaks its line protocol: send the
board serial bytes, move its clock, read the pulses its (stub) pin made. Its state file lives
on the host, so a new runner on the same file is the same board after a power cycle.
:class:`MicroPythonPtyBoard` puts a runner behind a pty, so the real
:class:`~hardware.watchdog.link.WatchdogLink` can talk to MicroPython itself.

Test tooling: needs ``node`` on PATH and ``make setup`` (npm ci in ``sim/``).
"""

from __future__ import annotations

import json
import os
import selectors
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any

from hardware.exc import BackendUnavailableError
from hardware.watchdog.virtual import PtyBoard, Pulse

SIM_DIR = Path(__file__).resolve().parent / "sim"
RUNNER = SIM_DIR / "run.mjs"
MICROPYTHON_PACKAGE = SIM_DIR / "node_modules" / "@micropython" / "micropython-webassembly-pyscript"
#: A hang guard for one runner command (WebAssembly start-up included), not a speed target.
COMMAND_TIMEOUT_S = 60.0


class RunnerError(RuntimeError):
    """The MicroPython runner failed: a Python exception in the firmware, or Node itself."""


def find_node() -> str:
    """The ``node`` executable, or BackendUnavailableError saying what is missing."""
    node = shutil.which("node")
    if node is None:
        raise BackendUnavailableError("node is not on PATH")
    if not (MICROPYTHON_PACKAGE / "micropython.mjs").exists():
        raise BackendUnavailableError(
            f"MicroPython for Node is not installed in {SIM_DIR}: make setup"
        )
    return node


class MicroPythonRunner:
    """One power-on of the board: a Node process running the firmware under MicroPython."""

    def __init__(
        self,
        state_path: str | os.PathLike[str],
        *,
        clock_start: int = 0,
        pulse_ms: int = 200,
        grace_s: int = 300,
        max_resets: int = 3,
    ) -> None:
        self._proc: subprocess.Popen[bytes] | None = None
        self._selector: selectors.BaseSelector | None = None
        self._buf = bytearray()
        self.state_path = Path(state_path)
        node = find_node()
        self._proc = subprocess.Popen(
            [node, str(RUNNER), "--state", str(self.state_path)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            # Node's own complaints land in the same stream, so they surface in RunnerError.
            stderr=subprocess.STDOUT,
            cwd=SIM_DIR,
        )
        try:
            assert self._proc.stdout is not None
            self._selector = selectors.DefaultSelector()
            self._selector.register(self._proc.stdout, selectors.EVENT_READ)
            self._expect("@ready")
            options = {
                "clock_start": clock_start,
                "pulse_ms": pulse_ms,
                "grace_s": grace_s,
                "max_resets": max_resets,
            }
            #: What the board said at power-on (its BOOT line).
            self.boot_output = self._call("@boot " + json.dumps(options))[0]
        except BaseException:
            self.close()
            raise

    # --- the board --------------------------------------------------------------------------

    def send(self, text: str) -> list[str]:
        """The board receives ``text`` and a newline; returns the lines it answered."""
        return self._call("> " + text)[0]

    def send_bytes(self, data: bytes) -> list[str]:
        """The board receives exactly these bytes (any chunk of a line, any byte values)."""
        return self._call(">x " + data.hex())[0]

    def advance(self, ms: int) -> list[str]:
        """``ms`` milliseconds of board time pass; returns what the board said meanwhile."""
        return self._call(f"@advance {int(ms)}")[0]

    def serve(self, script: list[tuple[int, bytes]], until_ms: int) -> list[str]:
        """Power on again and run main.py's own serve() loop until board time ``until_ms``,
        the serial input arriving as scripted ``(at_ms, bytes)``; returns all it said."""
        options = {"input": [[at, data.hex()] for at, data in script], "until_ms": until_ms}
        return self._call("@serve " + json.dumps(options))[0]

    def pulses(self) -> list[Pulse]:
        """Reset pulses so far, timed in ms since this power-on."""
        answers = self._call("@pulses")[1]
        return [Pulse(start, width) for start, width in answers["pulses"]]

    def pin(self) -> dict[str, Any]:
        """How main.py built the reset pin (id, open_drain, level)."""
        return self._call("@pin")[1]["pin"]

    # --- life cycle -------------------------------------------------------------------------

    def close(self) -> None:
        """End the Node process (EOF, then kill if it lingers); safe to call twice."""
        proc, self._proc = self._proc, None
        selector, self._selector = self._selector, None
        if selector is not None:
            selector.close()
        if proc is None:
            return
        try:
            if proc.stdin is not None:
                proc.stdin.close()
            proc.wait(timeout=COMMAND_TIMEOUT_S)
        except (OSError, subprocess.TimeoutExpired):
            proc.kill()
            proc.wait()
        finally:
            if proc.stdout is not None:
                proc.stdout.close()

    def __enter__(self) -> MicroPythonRunner:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # --- the runner's protocol --------------------------------------------------------------

    def _call(self, line: str) -> tuple[list[str], dict[str, Any]]:
        proc = self._proc
        if proc is None or proc.stdin is None:
            raise RunnerError("the MicroPython runner is closed")
        try:
            proc.stdin.write(line.encode("latin-1") + b"\n")
            proc.stdin.flush()
        except OSError as exc:
            raise RunnerError(f"the MicroPython runner is gone: {exc}") from exc
        board: list[str] = []
        answers: dict[str, Any] = {}
        for reply in self._until("@done"):
            if reply.startswith("< "):
                board.append(reply[2:])
            elif reply.startswith("@error ") or reply.startswith("@fatal "):
                raise RunnerError(reply)
            elif reply.startswith("@"):
                name, _, payload = reply[1:].partition(" ")
                answers[name] = json.loads(payload)
            else:
                raise RunnerError(f"unexpected runner output: {reply!r}")
        return board, answers

    def _expect(self, marker: str) -> None:
        lines = self._until(marker)
        if lines:
            raise RunnerError(f"runner said {lines!r} before {marker}")

    def _until(self, marker: str) -> list[str]:
        lines: list[str] = []
        deadline = time.monotonic() + COMMAND_TIMEOUT_S
        while True:
            line = self._read_line(deadline)
            if line == marker:
                return lines
            if line.startswith("@fatal "):
                raise RunnerError(line)
            lines.append(line)

    def _read_line(self, deadline: float) -> str:
        proc, selector = self._proc, self._selector
        assert proc is not None and proc.stdout is not None and selector is not None
        while b"\n" not in self._buf:
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not selector.select(remaining):
                raise RunnerError("the MicroPython runner did not answer in time")
            chunk = os.read(proc.stdout.fileno(), 65536)
            if not chunk:
                code = proc.wait()
                tail = self._buf.decode(errors="replace")[-500:]
                raise RunnerError(f"the MicroPython runner exited ({code}): {tail}")
            self._buf += chunk
        end = self._buf.index(b"\n")
        line = self._buf[:end].decode(errors="replace")
        del self._buf[: end + 1]
        return line


class MicroPythonPtyBoard(PtyBoard):
    """A :class:`MicroPythonRunner` behind a pty: the host link talks to real MicroPython.

    Bytes from the host go to the firmware as they come (it assembles lines itself); what
    the firmware says goes back to the host. Time moves only through :meth:`advance_ms`.
    """

    def __init__(self, state_path: str | os.PathLike[str], **runner_options: int) -> None:
        super().__init__()
        self.runner: MicroPythonRunner | None = None
        self.state_path = Path(state_path)
        self._runner_options = runner_options
        try:
            self._power_up()
            self._start()
        except BaseException:
            self.close()
            raise

    def _power_up(self) -> None:
        self.runner = MicroPythonRunner(self.state_path, **self._runner_options)
        for line in self.runner.boot_output:
            self._emit(line)

    def reboot(self) -> None:
        """Power-cycle: a new MicroPython process on the same state file."""
        with self.lock:
            if self.runner is not None:
                self.runner.close()
            self._power_up()

    def advance_ms(self, ms: int) -> None:
        with self.lock:
            for line in self._require_runner().advance(ms):
                self._emit(line)

    def pulses(self) -> list[Pulse]:
        with self.lock:
            return self._require_runner().pulses()

    def _require_runner(self) -> MicroPythonRunner:
        if self.runner is None:
            raise RunnerError("the board is closed")
        return self.runner

    def _received(self, data: bytes) -> None:
        for line in self._require_runner().send_bytes(data):
            self._emit(line)

    def close(self) -> None:
        """Stop serving the pty, then end the MicroPython process; safe to call twice."""
        super().close()
        runner, self.runner = self.runner, None
        if runner is not None:
            runner.close()
