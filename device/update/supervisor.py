"""A small process supervisor for the tests and the demo: systemd's part, minus systemd.

``dcs-station update supervise`` runs ``<root>/current/venv/bin/dcs-station run`` as its
child, as systemd runs the daemon's unit: it hands the child a notify socket and listens for
READY=1 (device/sdnotify.py), restarts the child from ``current`` on SIGHUP (the installer's
``restart``), restarts it a second after it dies (``Restart=on-failure``) and stops it on
SIGTERM. Its state — its pid, the child's, a generation counted up at each start, READY —
is a JSON file the :class:`Supervised` service manager reads.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from pathlib import Path

import msgspec

from device.atomic_file import write_atomically

STOP_GRACE_S = 10.0
RESTART_DELAY_S = 1.0


class SupervisorState(msgspec.Struct, kw_only=True):
    """What the supervisor publishes about itself and its child."""

    pid: int
    child: int | None = None
    generation: int = 0
    ready: bool = False
    #: The release the child was started from (``current``'s target then).
    release: str | None = None


def state_path(root: Path) -> Path:
    return Path(root) / "run" / "supervisor.json"


def read_state(root: Path) -> SupervisorState | None:
    try:
        return msgspec.json.decode(state_path(root).read_bytes(), type=SupervisorState)
    except (OSError, msgspec.DecodeError):
        return None


class Supervisor:
    """Runs the station daemon from ``<root>/current`` and keeps it running."""

    def __init__(self, root: Path, daemon_args: list[str]) -> None:
        self.root = Path(root)
        self.daemon_args = daemon_args
        self.child: subprocess.Popen | None = None
        self.state = SupervisorState(pid=os.getpid())
        self._restart = False
        self._stop = False
        (self.root / "run").mkdir(parents=True, exist_ok=True)
        self._address = f"\0dcs-supervisor-{os.getpid()}"
        self._socket = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self._socket.bind(self._address)
        self._socket.settimeout(0.2)

    def _publish(self) -> None:
        write_atomically(state_path(self.root), msgspec.json.encode(self.state))

    def _start(self) -> None:
        release = os.readlink(self.root / "current")
        command = [str(self.root / "current" / "venv" / "bin" / "dcs-station"), "run"]
        environment = dict(os.environ, NOTIFY_SOCKET="@" + self._address[1:])
        log = open(self.root / "run" / "daemon.log", "ab")  # noqa: SIM115 - the child keeps it
        with log:
            self.child = subprocess.Popen(
                command + self.daemon_args, env=environment, stdout=log, stderr=log
            )
        self.state.child = self.child.pid
        self.state.generation += 1
        self.state.ready = False
        self.state.release = Path(release).name
        self._publish()

    def _stop_child(self) -> None:
        if self.child is None:
            return
        self.child.terminate()
        try:
            self.child.wait(STOP_GRACE_S)
        except subprocess.TimeoutExpired:
            self.child.kill()
            self.child.wait()
        self.child = None
        self.state.child = None
        self.state.ready = False
        self._publish()

    def run(self) -> None:
        """Supervise until SIGTERM."""
        signal.signal(signal.SIGHUP, lambda *_: setattr(self, "_restart", True))
        signal.signal(signal.SIGTERM, lambda *_: setattr(self, "_stop", True))
        signal.signal(signal.SIGINT, lambda *_: setattr(self, "_stop", True))
        self._start()
        died_at: float | None = None
        while not self._stop:
            try:
                message = self._socket.recv(4096).decode(errors="replace")
            except (TimeoutError, InterruptedError):
                message = ""
            if "READY=1" in message.splitlines() and self.child is not None:
                self.state.ready = True
                self._publish()
            if self._restart:
                self._restart = False
                self._stop_child()
                self._start()
                died_at = None
            elif self.child is not None and self.child.poll() is not None:
                self.child = None
                self.state.child = None
                self.state.ready = False
                self._publish()
                died_at = time.monotonic()
            elif died_at is not None and time.monotonic() - died_at >= RESTART_DELAY_S:
                died_at = None
                self._start()
        self._stop_child()
        self._socket.close()


class Supervised:
    """The :class:`~device.update.services.ServiceManager` over a running supervisor."""

    def __init__(self, root: Path, timeout_s: float = 30.0) -> None:
        self.root = Path(root)
        self.timeout_s = timeout_s

    def restart(self) -> None:
        state = read_state(self.root)
        if state is None:
            raise RuntimeError(f"no supervisor runs under {self.root}")
        os.kill(state.pid, signal.SIGHUP)
        end = time.monotonic() + self.timeout_s
        while time.monotonic() < end:
            now = read_state(self.root)
            if now is not None and now.generation > state.generation:
                return
            time.sleep(0.05)
        raise RuntimeError("the supervisor did not restart the daemon")

    def ready(self) -> bool:
        state = read_state(self.root)
        return state is not None and state.ready
