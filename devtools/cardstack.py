"""The real PC/SC stack for tests, the bench and development: pcscd + vpcd + virtual cards.

:class:`LocalPcscd` runs Debian's ``pcscd`` in the foreground (never ``--auto-exit``) with a
``reader.conf.d`` of its own: one vsmartcard vpcd reader ("Virtual PCD", two slots) on a
free pair of ports rather than the stock 35963/35964, so it never collides with another vpcd
user. pcscd itself cannot be doubled up (its socket ``/run/pcscd/pcscd.comm`` and pid file
are fixed), so :meth:`LocalPcscd.start` refuses, clearly, when one is already running.

:class:`VirtualCardProcess` runs ``python -m hardware.card.virtual`` for one card file:
starting it inserts the card, stopping it pulls the card. Both are stopped by pid.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from devtools.net import free_port

PCSCD_SOCKET = Path("/run/pcscd/pcscd.comm")
PCSCD_PIDFILE = Path("/run/pcscd/pcscd.pid")
VPCD_DRIVER = Path("/usr/lib/pcsc/drivers/serial/libifdvpcd.so")
READER_NAME = "Virtual PCD"
REPO = Path(__file__).resolve().parents[1]


class CardStackError(RuntimeError):
    """pcscd or a virtual card could not be started."""


def running_pcscd() -> int | None:
    """The pid of a pcscd answering on its socket now (0 if its pid file is unreadable), or
    None when there is none (a stale socket file left by a killed pcscd does not count)."""
    if not PCSCD_SOCKET.exists():
        return None
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        try:
            sock.connect(str(PCSCD_SOCKET))
        except OSError:
            return None
    try:
        return int(PCSCD_PIDFILE.read_text().strip())
    except (OSError, ValueError):
        return 0


def _free_port_pair() -> int:
    """A port P with P and P+1 both free (vpcd listens on one port per slot)."""
    for _ in range(50):
        port = free_port()
        if port >= 65535:
            continue
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            try:
                sock.bind(("0.0.0.0", port + 1))  # noqa: S104 - vpcd binds all interfaces
            except OSError:
                continue
        return port
    raise CardStackError("no free pair of ports for vpcd")


def list_readers() -> list[str] | None:
    """The PC/SC readers now, or None if pcscd does not answer."""
    from smartcard import scard

    rv, ctx = scard.SCardEstablishContext(scard.SCARD_SCOPE_USER)
    if rv != 0:
        return None
    try:
        rv, readers = scard.SCardListReaders(ctx, [])
        return list(readers) if rv == 0 else []
    finally:
        scard.SCardReleaseContext(ctx)


@dataclass
class LocalPcscd:
    """``pcscd -f`` with its own vpcd reader; ``port`` is slot 0's, ``port + 1`` slot 1's."""

    workdir: Path | None = None
    port: int = 0
    process: subprocess.Popen | None = None
    _own_workdir: bool = False
    _log: IO[bytes] | None = None

    def reader(self, slot: int = 0) -> str:
        """The PC/SC name of a slot's reader."""
        return f"{READER_NAME} 00 {slot:02d}"

    def slot_port(self, slot: int = 0) -> int:
        """The TCP port a virtual card connects to for ``slot``."""
        return self.port + slot

    @property
    def log_path(self) -> Path:
        """pcscd's output (``-f`` logs to stdout)."""
        assert self.workdir is not None
        return self.workdir / "pcscd.log"

    def start(self, deadline_s: float = 30.0) -> LocalPcscd:
        """Start pcscd and wait until it lists the vpcd reader."""
        pid = running_pcscd()
        if pid is not None:
            raise CardStackError(
                f"a pcscd (pid {pid or 'unknown'}) is already running on {PCSCD_SOCKET}; "
                "stop it first (with systemd: systemctl stop pcscd.socket pcscd) - this "
                "starts its own pcscd with its own vpcd reader"
            )
        if shutil.which("pcscd") is None or not VPCD_DRIVER.exists():
            raise CardStackError("needs Debian's pcscd and vsmartcard-vpcd (install-system-deps)")
        if self.workdir is None:
            self.workdir = Path(tempfile.mkdtemp(prefix="dcs-pcscd-"))
            self._own_workdir = True
        conf = self.workdir / "reader.conf.d"
        conf.mkdir(parents=True, exist_ok=True)
        if not self.port:
            self.port = _free_port_pair()
        (conf / "vpcd").write_text(
            f'FRIENDLYNAME "{READER_NAME}"\n'
            f"DEVICENAME   /dev/null:0x{self.port:04X}\n"
            f"LIBPATH      {VPCD_DRIVER}\n"
            f"CHANNELID    0x{self.port:04X}\n"
        )
        return self._spawn(deadline_s)

    def _spawn(self, deadline_s: float) -> LocalPcscd:
        assert self.workdir is not None
        self._log = open(self.log_path, "ab")  # noqa: SIM115 - closed in stop()
        self.process = subprocess.Popen(
            ["pcscd", "-f", "-c", str(self.workdir / "reader.conf.d")],
            stdout=self._log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
        end = time.monotonic() + deadline_s
        while time.monotonic() < end:
            if self.process.poll() is not None:
                self.stop()
                raise CardStackError(f"pcscd exited at start; see {self.log_path}")
            readers = list_readers()
            if readers and self.reader(0) in readers:
                return self
            time.sleep(0.05)
        self.stop()
        raise CardStackError(f"pcscd did not list {self.reader(0)!r}; see {self.log_path}")

    def stop(self, timeout_s: float = 10.0) -> None:
        """SIGTERM by pid (SIGKILL if it lingers); pcscd removes its socket on the way out."""
        process, self.process = self.process, None
        if process is not None and process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout_s)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        log, self._log = self._log, None
        if log is not None:
            log.close()

    def restart(self, deadline_s: float = 30.0) -> LocalPcscd:
        """Stop and start again, same ports (cards still running reconnect by themselves)."""
        self.stop()
        end = time.monotonic() + deadline_s
        while running_pcscd() is not None and time.monotonic() < end:
            time.sleep(0.05)
        return self._spawn(deadline_s)

    def cleanup(self) -> None:
        """Stop, and remove the working directory if this object made it."""
        self.stop()
        if self._own_workdir and self.workdir is not None:
            shutil.rmtree(self.workdir, ignore_errors=True)


@dataclass
class VirtualCardProcess:
    """One ``python -m hardware.card.virtual`` process; its stdout lines are kept."""

    card_file: Path
    port: int
    options: list[str] = field(default_factory=list)
    process: subprocess.Popen | None = None
    lines: list[str] = field(default_factory=list)
    _cond: threading.Condition = field(default_factory=threading.Condition)
    _reader: threading.Thread | None = None

    def start(self) -> VirtualCardProcess:
        """Start the card (it connects to vpcd as soon as vpcd listens)."""
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "hardware.card.virtual",
                "--resident",
                str(self.card_file),
                "--port",
                str(self.port),
                *self.options,
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            text=True,
            cwd=REPO,
            env=env,
        )
        self._reader = threading.Thread(target=self._read, args=(self.process,), daemon=True)
        self._reader.start()
        return self

    def _read(self, process: subprocess.Popen) -> None:
        assert process.stdout is not None
        for line in process.stdout:
            with self._cond:
                self.lines.append(line.rstrip("\n"))
                self._cond.notify_all()

    def wait_for_line(self, prefix: str, timeout_s: float = 30.0) -> str | None:
        """The first output line starting with ``prefix`` (waiting for it), or None."""
        with self._cond:
            self._cond.wait_for(
                lambda: any(line.startswith(prefix) for line in self.lines), timeout_s
            )
            return next((line for line in self.lines if line.startswith(prefix)), None)

    @property
    def pid(self) -> int | None:
        """The process id while it runs."""
        return self.process.pid if self.process is not None else None

    def _finish(self, sig: signal.Signals, timeout_s: float) -> int | None:
        process, self.process = self.process, None
        if process is None:
            return None
        if process.poll() is None:
            process.send_signal(sig)
            try:
                process.wait(timeout_s)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        if self._reader is not None:
            self._reader.join(timeout_s)
            self._reader = None
        if process.stdout is not None:
            process.stdout.close()
        return process.returncode

    def stop(self, timeout_s: float = 10.0) -> int | None:
        """Pull the card: SIGTERM (the card closes its socket); returns the exit code."""
        return self._finish(signal.SIGTERM, timeout_s)

    def kill(self, timeout_s: float = 10.0) -> int | None:
        """Pull the card the hard way: SIGKILL (the kernel closes the socket)."""
        return self._finish(signal.SIGKILL, timeout_s)

    def __enter__(self) -> VirtualCardProcess:
        return self.start() if self.process is None else self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()
