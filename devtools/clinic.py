"""A simulated clinic speaking ``sync_server/checkups/http.py``'s JSON (demo and tests).

Run it as a process (``python -m devtools.clinic --port 8765 --token secret``) or in a thread
(:class:`SimulatedClinic`); :class:`ClinicProcess` starts and stops the process by pid. It
offers 30-minute video check-ups from 09:00 to 12:00 local time on the next ``days`` days,
keeps its bookings in memory, answers 409 for a slot already taken and 401 without the
token. Synthetic: it knows residents only by the pseudonymous ``patient_ref``.
"""

from __future__ import annotations

import argparse
import json
import secrets
import subprocess
import sys
import threading
from datetime import UTC, date, datetime, time, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlparse
from zoneinfo import ZoneInfo

from devtools.net import free_port, wait_for_port

SLOT_MINUTES = 30
FIRST_HOUR, LAST_HOUR = 9, 12


class SimulatedClinic(ThreadingHTTPServer):
    """The clinic's HTTP server; :meth:`start` serves it on a thread."""

    daemon_threads = True

    def __init__(
        self,
        port: int = 0,
        *,
        token: str = "clinic-token",  # noqa: S107 - a simulator's shared test token
        zone: str = "Asia/Bangkok",
        days: int = 7,
        today: date | None = None,
    ) -> None:
        super().__init__(("127.0.0.1", port), _Handler)
        self.token = token
        self.zone = ZoneInfo(zone)
        self.days = days
        self.today = today
        self.bookings: dict[str, dict[str, str]] = {}  # ref -> {slot_id, patient_ref}
        self.lock = threading.Lock()
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        """Where it listens."""
        host, port = self.server_address[:2]
        return f"http://{host}:{port}"

    def slots(self) -> list[dict[str, str]]:
        """Every slot of the coming days, free or not."""
        first = self.today or datetime.now(self.zone).date()
        out = []
        for offset in range(1, self.days + 1):
            day = first + timedelta(days=offset)
            start = datetime.combine(day, time(FIRST_HOUR), self.zone)
            while start.hour < LAST_HOUR:
                end = start + timedelta(minutes=SLOT_MINUTES)
                out.append(
                    {
                        "id": start.strftime("%Y%m%dT%H%M"),
                        "starts_at": start.isoformat(),
                        "ends_at": end.isoformat(),
                        "kind": "general",
                    }
                )
                start = end
        return out

    def taken(self) -> set[str]:
        """The slot ids booked now."""
        with self.lock:
            return {b["slot_id"] for b in self.bookings.values()}

    def start(self) -> SimulatedClinic:
        """Serve on a daemon thread."""
        self._thread = threading.Thread(target=self.serve_forever, name="clinic", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving; safe twice."""
        if self._thread is not None:
            self.shutdown()
            self._thread.join()
            self._thread = None
        self.server_close()


class _Handler(BaseHTTPRequestHandler):
    server: SimulatedClinic

    def log_message(self, format: str, *args: object) -> None:
        pass  # the tests read the bookings, not a log

    def _answer(self, status: int, body: object | None = None) -> None:
        data = json.dumps(body).encode() if body is not None else b""
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _authorised(self) -> bool:
        if self.headers.get("Authorization") != f"Bearer {self.server.token}":
            self._answer(401, {"error": "unauthorised"})
            return False
        return True

    def do_GET(self) -> None:
        url = urlparse(self.path)
        if not self._authorised():
            return
        if url.path != "/v1/slots":
            self._answer(404, {"error": "not found"})
            return
        query = parse_qs(url.query)
        try:
            start = datetime.fromisoformat(query["from"][0])
            end = datetime.fromisoformat(query["to"][0])
        except (KeyError, ValueError):
            self._answer(400, {"error": "from and to are needed"})
            return
        taken = self.server.taken()
        free = [
            slot
            for slot in self.server.slots()
            if slot["id"] not in taken
            and start <= datetime.fromisoformat(slot["starts_at"]).astimezone(UTC) < end
        ]
        self._answer(200, {"slots": free})

    def do_POST(self) -> None:
        if not self._authorised():
            return
        if urlparse(self.path).path != "/v1/bookings":
            self._answer(404, {"error": "not found"})
            return
        try:
            length = int(self.headers.get("Content-Length", "0"))
            body = json.loads(self.rfile.read(length))
            slot_id, patient = str(body["slot_id"]), str(body["patient_ref"])
        except (ValueError, KeyError, TypeError):
            self._answer(400, {"error": "slot_id and patient_ref are needed"})
            return
        if slot_id not in {s["id"] for s in self.server.slots()}:
            self._answer(409, {"error": "no such slot"})
            return
        with self.server.lock:
            if any(b["slot_id"] == slot_id for b in self.server.bookings.values()):
                self._answer(409, {"error": "taken"})
                return
            ref = secrets.token_hex(6)
            self.server.bookings[ref] = {"slot_id": slot_id, "patient_ref": patient}
        video = f"https://meet.clinic.example.invalid/v/{ref}"
        self._answer(201, {"ref": ref, "video_url": video})

    def do_DELETE(self) -> None:
        if not self._authorised():
            return
        path = urlparse(self.path).path
        if not path.startswith("/v1/bookings/"):
            self._answer(404, {"error": "not found"})
            return
        with self.server.lock:
            gone = self.server.bookings.pop(path.rsplit("/", 1)[1], None)
        self._answer(204 if gone else 404)


class ClinicProcess:
    """The simulated clinic as a separate process, stopped by pid."""

    def __init__(
        self,
        token: str = "clinic-token",  # noqa: S107 - a simulator's shared test token
        port: int | None = None,
    ) -> None:
        self.token = token
        self.port = port or free_port()
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        """Where it listens."""
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> ClinicProcess:
        """Start it and wait until it accepts connections."""
        root = Path(__file__).resolve().parent.parent
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "devtools.clinic",
                "--port",
                str(self.port),
                "--token",
                self.token,
            ],
            cwd=root,
        )
        if not wait_for_port("127.0.0.1", self.port):
            self.stop()
            raise RuntimeError("the simulated clinic did not start")
        return self

    def stop(self) -> None:
        """Stop it by pid; safe twice."""
        if self.process is not None:
            self.process.terminate()
            self.process.wait(10)
            self.process = None


def main(argv: list[str] | None = None) -> None:
    """``python -m devtools.clinic --port N --token T``: serve until stopped."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--token", default="clinic-token")
    parser.add_argument("--zone", default="Asia/Bangkok")
    args = parser.parse_args(argv)
    clinic = SimulatedClinic(args.port, token=args.token, zone=args.zone)
    try:
        clinic.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        clinic.server_close()


if __name__ == "__main__":
    main()
