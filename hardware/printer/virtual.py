"""A virtual network receipt printer: raw ESC/POS on a loopback TCP port, like port 9100.

``python -m hardware.printer.virtual --port 9100 --spool DIR [--control-port 9101]``

* Every job (the bytes from the first printable command to the cut, or to the end of the
  connection) is stored as ``DIR/job-000001.bin`` and, when it ends, described in
  ``job-000001.json`` (bytes received, bytes printed, cut, complete).
* ``DLE EOT n`` status requests are answered at once from the current state: ``ok``,
  ``paper-low``, ``paper-out``, ``cover-open``, ``error``; in ``offline`` it drops its
  connections and accepts none (a printer switched off or unplugged).
* Like a real printer out of paper it keeps taking bytes but prints nothing more: the job
  is stored with ``complete: false``. A roll of finite length (``--paper-bytes``, or the
  ``paper`` control command) runs out by itself in the middle of a job.
* Control: one JSON line per request on the control port (``state``, ``state paper-out``,
  ``paper 4000``, ``paper none``, ``jobs``), see :class:`VirtualPrinterControl`.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import selectors
import signal
import socket
import sys
import threading
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import IO, Any

from hardware.printer import status as st
from hardware.printer.stream import Command, StreamParser

STATES = ("ok", "paper-low", "paper-out", "cover-open", "error", "offline")
_CONTROL_LINE_LIMIT = 4096


@dataclass
class Job:
    """One job as the printer saw it."""

    number: int
    path: Path
    received: int = 0
    printed: int = 0
    cut: bool = False
    finished: bool = False

    @property
    def complete(self) -> bool:
        """Ended with a cut and every byte printed (paper never ran out during it)."""
        return self.finished and self.cut and self.printed == self.received

    def data(self) -> bytes:
        """The ESC/POS bytes received for this job (status requests excluded)."""
        return self.path.read_bytes()

    def describe(self) -> dict[str, Any]:
        """JSON-ready metadata."""
        info = asdict(self)
        info["path"] = str(self.path)
        info["complete"] = self.complete
        return info


@dataclass
class _Client:
    sock: socket.socket
    parser: StreamParser = field(default_factory=StreamParser)
    job: Job | None = None
    handle: IO[bytes] | None = None


@dataclass
class _ControlClient:
    sock: socket.socket
    buffer: bytes = b""


class VirtualPrinter:
    """The virtual printer as a thread; ``start()`` it, ``close()`` it (safe twice)."""

    def __init__(
        self,
        spool_dir: Path,
        host: str = "127.0.0.1",
        port: int = 0,
        control_port: int | None = 0,
        state: str = "ok",
        paper_bytes: int | None = None,
        low_water_bytes: int = 0,
    ) -> None:
        self._listener: socket.socket | None = None
        self._control: socket.socket | None = None
        self._wake_r: socket.socket | None = None
        self._wake_w: socket.socket | None = None
        self._thread: threading.Thread | None = None
        self._stopping = False
        self._lock = threading.Lock()
        if state not in STATES:
            raise ValueError(f"state must be one of {', '.join(STATES)}")
        self._state = state
        self._paper_left = paper_bytes
        self._low_water = low_water_bytes
        self._jobs: list[Job] = []
        self.spool_dir = Path(spool_dir)
        self.spool_dir.mkdir(parents=True, exist_ok=True)
        self._next_job = 1 + max(
            (int(path.stem.split("-")[1]) for path in self.spool_dir.glob("job-*.bin")), default=0
        )
        self._host, self._port, self._control_port = host, port, control_port

    # --- life cycle ----------------------------------------------------------------------

    def start(self) -> VirtualPrinter:
        """Bind the ports and serve in a background thread."""
        try:
            self._listener = _listen(self._host, self._port)
            if self._control_port is not None:
                self._control = _listen(self._host, self._control_port)
            self._wake_r, self._wake_w = socket.socketpair()
        except BaseException:
            self.close()
            raise
        self._thread = threading.Thread(target=self._run, name="virtual-printer", daemon=True)
        self._thread.start()
        return self

    def close(self) -> None:
        """Stop serving and release every socket and file; safe to call twice."""
        self._stopping = True
        thread, self._thread = self._thread, None
        if thread is not None:
            self._wake()
            thread.join()
        for name in ("_listener", "_control", "_wake_r", "_wake_w"):
            sock = getattr(self, name)
            setattr(self, name, None)
            if sock is not None:
                sock.close()

    def __enter__(self) -> VirtualPrinter:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    @property
    def address(self) -> tuple[str, int]:
        """``(host, port)`` the printer listens on."""
        if self._listener is None:
            raise RuntimeError("the virtual printer is not started")
        return self._listener.getsockname()[:2]

    @property
    def control_address(self) -> tuple[str, int] | None:
        """``(host, port)`` of the control interface, if any."""
        return None if self._control is None else self._control.getsockname()[:2]

    # --- the state tests and people change -----------------------------------------------

    @property
    def state(self) -> str:
        """The current state word."""
        return self._state

    def set_state(self, state: str) -> None:
        """Switch to ``state``; ``offline`` drops the connections at once."""
        if state not in STATES:
            raise ValueError(f"state must be one of {', '.join(STATES)}")
        with self._lock:
            self._state = state
        self._wake()

    def load_paper(self, paper_bytes: int | None = None) -> None:
        """Put in a roll good for ``paper_bytes`` more job bytes (``None``: endless) and
        close the cover: the printer is ``ok`` again (unless it is offline)."""
        with self._lock:
            self._paper_left = paper_bytes
            if self._state == "offline":
                pass  # loading paper does not switch a printer on
            elif paper_bytes is not None and paper_bytes <= 0:
                self._state = "paper-out"
            elif paper_bytes is not None and paper_bytes <= self._low_water:
                self._state = "paper-low"
            else:
                self._state = "ok"
        self._wake()

    def jobs(self) -> list[Job]:
        """Copies of the jobs seen so far, oldest first."""
        with self._lock:
            return [Job(**vars(job)) for job in self._jobs]

    def describe(self) -> dict[str, Any]:
        """State, paper left and job counts."""
        with self._lock:
            return {
                "state": self._state,
                "paper_left": self._paper_left,
                "jobs": len(self._jobs),
                "complete": sum(1 for job in self._jobs if job.complete),
            }

    # --- the server loop -----------------------------------------------------------------

    def _wake(self) -> None:
        wake = self._wake_w
        if wake is not None:
            with contextlib.suppress(OSError):  # the loop is already gone
                wake.send(b"x")

    def _run(self) -> None:
        selector = selectors.DefaultSelector()
        clients: dict[socket.socket, _Client] = {}
        controls: dict[socket.socket, _ControlClient] = {}
        try:
            selector.register(self._listener, selectors.EVENT_READ, "accept")
            selector.register(self._wake_r, selectors.EVENT_READ, "wake")
            if self._control is not None:
                selector.register(self._control, selectors.EVENT_READ, "control")
            while not self._stopping:
                for key, _ in selector.select():
                    if key.data == "wake":
                        self._wake_r.recv(4096)
                    elif key.data == "accept":
                        self._accept(selector, clients)
                    elif key.data == "control":
                        sock, _ = self._control.accept()
                        controls[sock] = _ControlClient(sock)
                        selector.register(sock, selectors.EVENT_READ, "control-client")
                    elif key.data == "control-client":
                        self._control_readable(selector, controls, key.fileobj)
                    else:
                        self._client_readable(selector, clients, key.fileobj)
                if self.state == "offline":
                    for sock in list(clients):
                        self._drop(selector, clients, sock)
        finally:
            for sock in list(clients):
                self._drop(selector, clients, sock)
            for sock in list(controls):
                selector.unregister(sock)
                sock.close()
            selector.close()

    def _accept(self, selector: selectors.BaseSelector, clients: dict) -> None:
        sock, _ = self._listener.accept()
        if self.state == "offline":
            sock.close()  # switched off: the connection dies at once
            return
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # one-byte answers go now
        clients[sock] = _Client(sock)
        selector.register(sock, selectors.EVENT_READ, "client")

    def _drop(self, selector: selectors.BaseSelector, clients: dict, sock: socket.socket) -> None:
        client = clients.pop(sock)
        selector.unregister(sock)
        sock.close()
        self._finish_job(client)

    def _client_readable(
        self, selector: selectors.BaseSelector, clients: dict, sock: socket.socket
    ) -> None:
        try:
            chunk = sock.recv(65536)
        except OSError:
            chunk = b""
        if not chunk:
            self._drop(selector, clients, sock)
            return
        client = clients[sock]
        for command in client.parser.feed(chunk):
            if command.name == "DLE EOT":
                self._answer(client, command.arg)
            elif not command.realtime:
                self._take(client, command)

    def _answer(self, client: _Client, n: int) -> None:
        state = self.state
        if state == "offline" or n not in (1, 2, 3, 4):
            return  # real printers ignore an unknown n
        with contextlib.suppress(OSError):  # gone: its next read ends the connection
            client.sock.sendall(bytes((st.answers(state)[n],)))

    def _take(self, client: _Client, command: Command) -> None:
        """Store ``command`` in the client's job and use up paper if there is any."""
        if client.job is None:
            with self._lock:
                job = Job(self._next_job, self.spool_dir / f"job-{self._next_job:06d}.bin")
                self._next_job += 1
                self._jobs.append(job)
            client.job = job
            client.handle = open(job.path, "wb")  # noqa: SIM115 - closed in _finish_job
        size = len(command.raw)
        client.handle.write(command.raw)
        with self._lock:
            job = client.job
            job.received += size
            if self._state in ("ok", "paper-low"):
                printed = size if self._paper_left is None else min(size, self._paper_left)
                job.printed += printed
                if self._paper_left is not None:
                    self._paper_left -= printed
                    if self._paper_left <= 0:
                        self._state = "paper-out"
                    elif self._paper_left <= self._low_water:
                        self._state = "paper-low"
        if command.name == "GS V":
            job.cut = True
            self._finish_job(client)

    def _finish_job(self, client: _Client) -> None:
        job, handle = client.job, client.handle
        client.job = client.handle = None
        if handle is not None:
            handle.close()
        if job is None:
            return
        with self._lock:
            job.finished = True
            info = job.describe()
        job.path.with_suffix(".json").write_text(json.dumps(info, indent=1) + "\n")

    # --- control -------------------------------------------------------------------------

    def _control_readable(
        self, selector: selectors.BaseSelector, controls: dict, sock: socket.socket
    ) -> None:
        client = controls[sock]
        try:
            chunk = sock.recv(4096)
        except OSError:
            chunk = b""
        client.buffer += chunk
        if not chunk or len(client.buffer) > _CONTROL_LINE_LIMIT:
            selector.unregister(sock)
            del controls[sock]
            sock.close()
            return
        while b"\n" in client.buffer:
            line, client.buffer = client.buffer.split(b"\n", 1)
            reply = self.control(line.decode("utf-8", errors="replace"))
            try:
                sock.sendall(json.dumps(reply).encode() + b"\n")
            except OSError:
                break

    def control(self, line: str) -> dict[str, Any]:
        """Carry out one control command and return the reply."""
        words = line.split()
        try:
            if not words or words[0] == "state":
                if len(words) > 1:
                    self.set_state(words[1])
                return {"ok": True, **self.describe()}
            if words[0] == "paper":
                amount = None if len(words) < 2 or words[1] == "none" else int(words[1])
                self.load_paper(amount)
                return {"ok": True, **self.describe()}
            if words[0] == "jobs":
                return {"ok": True, "jobs": [job.describe() for job in self.jobs()]}
        except ValueError as exc:
            return {"ok": False, "error": str(exc)}
        return {"ok": False, "error": f"unknown command {words[0]!r}"}


def _listen(host: str, port: int) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(8)
    except BaseException:
        sock.close()
        raise
    return sock


class VirtualPrinterControl:
    """Client of a virtual printer's control port (for tests and people at a shell)."""

    def __init__(self, host: str, port: int, timeout_s: float = 10.0) -> None:
        self.host, self.port, self.timeout_s = host, port, timeout_s

    def request(self, line: str) -> dict[str, Any]:
        """Send one command line; return the decoded reply."""
        with socket.create_connection((self.host, self.port), timeout=self.timeout_s) as sock:
            sock.sendall(line.encode() + b"\n")
            reply = b""
            while not reply.endswith(b"\n"):
                chunk = sock.recv(65536)
                if not chunk:
                    break
                reply += chunk
        return json.loads(reply)

    def set_state(self, state: str) -> dict[str, Any]:
        """Switch the printer's state."""
        return self.request(f"state {state}")

    def load_paper(self, paper_bytes: int | None = None) -> dict[str, Any]:
        """Put in a roll (``None``: endless)."""
        return self.request(f"paper {'none' if paper_bytes is None else paper_bytes}")

    def describe(self) -> dict[str, Any]:
        """State, paper left, job counts."""
        return self.request("state")

    def jobs(self) -> list[dict[str, Any]]:
        """Metadata of every job."""
        return self.request("jobs")["jobs"]


def main(argv: list[str] | None = None) -> int:
    """Run the virtual printer until SIGTERM or Ctrl-C."""
    parser = argparse.ArgumentParser(
        prog="python -m hardware.printer.virtual", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=9100)
    parser.add_argument("--spool", type=Path, required=True, help="directory for the jobs")
    parser.add_argument("--control-port", type=int, default=0, help="0: any free port")
    parser.add_argument("--state", choices=STATES, default="ok")
    parser.add_argument("--paper-bytes", type=int, default=None, help="roll length (bytes)")
    parser.add_argument("--low-water", type=int, default=0, help="paper-low below this")
    args = parser.parse_args(argv)
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    printer = VirtualPrinter(
        args.spool, args.host, args.port, args.control_port, args.state, args.paper_bytes,
        args.low_water,
    )  # fmt: skip
    try:
        printer.start()
    except OSError as exc:
        print(f"error: cannot listen on {args.host}:{args.port}: {exc.strerror}", file=sys.stderr)
        return 1
    try:
        host, port = printer.address
        control = printer.control_address
        print(
            json.dumps({"listening": f"{host}:{port}", "control": f"{control[0]}:{control[1]}"}),
            flush=True,
        )
        stop.wait()
    finally:
        printer.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
