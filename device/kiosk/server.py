"""Serving the kiosk: cheroot, a threaded WSGI server, on loopback only.

Each open page holds one server-sent-event stream, so the server needs threads that may
block for long; cheroot gives a fixed pool and streams a generator response chunk by chunk.
"""

from __future__ import annotations

import logging
import threading
from typing import TYPE_CHECKING

from cheroot import wsgi

from device.config import KioskConfig
from device.kiosk import create_kiosk_app, kiosk_state

if TYPE_CHECKING:
    from flask import Flask

    from device.station import Station

log = logging.getLogger(__name__)

#: Worker threads: a few event streams plus the page and its photo and posts.
THREADS = 16


class KioskServer:
    """The kiosk app served on ``config.host``:``config.port`` (0: a free port)."""

    def __init__(self, station: Station, config: KioskConfig | None = None) -> None:
        self._thread: threading.Thread | None = None
        self.config = config or station.config.kiosk or KioskConfig()
        self.app: Flask = create_kiosk_app(station, self.config)
        self.state = kiosk_state(self.app)
        self._server = wsgi.Server(
            (self.config.host, self.config.port),
            self.app,
            numthreads=THREADS,
            server_name="dcs-kiosk",
            shutdown_timeout=1,
        )

    @property
    def url(self) -> str:
        """The kiosk's home, for Chromium's ``--kiosk`` (valid once started)."""
        host, port = self._server.bind_addr[:2]
        host = f"[{host}]" if ":" in host else host
        return f"http://{host}:{port}/"

    def start(self) -> KioskServer:
        """Bind, start serving in a thread, and start following the card reader."""
        self._server.prepare()  # binds now, so a taken port fails here, not in the thread
        self._thread = threading.Thread(target=self._server.serve, name="kiosk-http", daemon=True)
        self._thread.start()
        self.state.start()
        log.info("kiosk serving on %s", self.url)
        return self

    def stop(self) -> None:
        """Drop the visit, end the event streams, stop serving; safe twice."""
        self.state.stop()
        thread, self._thread = self._thread, None
        if thread is not None:
            self._server.stop()
            thread.join()

    def __enter__(self) -> KioskServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()
