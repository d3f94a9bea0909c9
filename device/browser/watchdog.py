"""Keep the kiosk browser running a live page: restart it when the page's heartbeat stops.

The kiosk page posts ``/alive`` every few seconds (``device/kiosk/static/alive.js``); the
daemon keeps the time of the last one and answers ``GET /alive`` with its age. The watchdog
runs the browser as a child in its own process group, asks that age every ``poll_s``, and
restarts the browser (SIGTERM to the group, SIGKILL after ``stop_grace_s``) when

- the browser exited (crash, or killed),
- the page's heartbeat is older than ``stale_after_s`` (a crashed renderer shows Chromium's
  error page, which runs none of our script; a hung page stops too), or
- no heartbeat came within ``start_grace_s`` of a start.

A daemon that does not answer is not the browser's fault: the watchdog waits for it (systemd
restarts the daemon) instead of restarting Chromium in a loop.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import shutil
import signal
import subprocess
import threading
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path

from device.browser.command import BrowserCommand

log = logging.getLogger(__name__)


class BrowserWatchdog:
    """Runs the kiosk browser and restarts it when its page stops sending heartbeats."""

    def __init__(
        self,
        command: BrowserCommand,
        alive_url: str,
        *,
        stale_after_s: float = 20.0,
        start_grace_s: float = 45.0,
        poll_s: float = 2.0,
        stop_grace_s: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.command = command
        self.alive_url = alive_url
        self.stale_after_s = stale_after_s
        self.start_grace_s = start_grace_s
        self.poll_s = poll_s
        self.stop_grace_s = stop_grace_s
        self._clock = clock
        self._process: subprocess.Popen[bytes] | None = None
        self._started_at = 0.0
        self._stop = threading.Event()
        #: How many times the browser was restarted, and why the last time.
        self.restarts = 0
        self.last_reason: str | None = None

    @property
    def pid(self) -> int | None:
        """The running browser's pid (cage's, under cage)."""
        return self._process.pid if self._process is not None else None

    def run(self) -> None:
        """Start the browser and watch it until :meth:`stop`."""
        self._launch()
        try:
            while not self._stop.wait(self.poll_s):
                reason = self.check()
                if reason is not None:
                    self.restart(reason)
        finally:
            self._terminate()

    def stop(self) -> None:
        """Stop watching and stop the browser."""
        self._stop.set()

    def check(self) -> str | None:
        """Why the browser must be restarted now, or ``None`` while all is well."""
        process = self._process
        if process is None or process.poll() is not None:
            code = None if process is None else process.returncode
            return f"browser exited ({code})"
        try:
            age = self._page_age()
        except (OSError, ValueError) as exc:
            log.warning("kiosk daemon not answering (%s); waiting for it", exc)
            return None
        since_start = self._clock() - self._started_at
        if age is None or age > since_start:
            # No heartbeat from this browser yet: a first page load may take a while.
            if since_start > self.start_grace_s:
                return f"no page heartbeat {since_start:.0f} s after start"
            return None
        if age > self.stale_after_s:
            return f"page heartbeat {age:.0f} s old"
        return None

    def restart(self, reason: str) -> None:
        """Stop the browser and start it again."""
        log.warning("restarting the kiosk browser: %s", reason)
        self.restarts += 1
        self.last_reason = reason
        self._terminate()
        self._launch()

    def _page_age(self) -> float | None:
        with urllib.request.urlopen(self.alive_url, timeout=self.poll_s) as answer:  # noqa: S310 - loopback
            age = json.loads(answer.read())["age_s"]
        return None if age is None else float(age)

    def _launch(self) -> None:
        # A fresh profile each start: nothing of a visit (history, cache) survives a restart.
        profile = Path(self.command.user_data_dir)
        shutil.rmtree(profile, ignore_errors=True)
        profile.mkdir(parents=True, exist_ok=True)
        self._process = subprocess.Popen(
            self.command.argv(),
            start_new_session=True,  # its own process group: renderers and GPU process included
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        self._started_at = self._clock()
        log.info("kiosk browser started (pid %d)", self._process.pid)

    def _terminate(self) -> None:
        process, self._process = self._process, None
        if process is None:
            return
        if process.poll() is None:
            self._signal_group(process.pid, signal.SIGTERM)
            try:
                process.wait(self.stop_grace_s)
            except subprocess.TimeoutExpired:
                self._signal_group(process.pid, signal.SIGKILL)
                process.wait()
        # Children left behind by a crashed browser still hold the group: end them too.
        self._signal_group(process.pid, signal.SIGKILL)

    @staticmethod
    def _signal_group(pgid: int, sig: signal.Signals) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pgid, sig)
