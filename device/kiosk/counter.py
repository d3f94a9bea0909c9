"""Counter mode (seed 003): a staffed counter where an officer logs in before residents are served.

The login goes to the server (``operator.login`` on the service channel); the session token
lives in this process's memory only — never on disk, never in a log. While the officer's
page is open it sends a heartbeat, and each heartbeat touches the session on the server;
when the page is closed or the station loses power the touches stop, and the server's
sweeper locks the account until an administrator unlocks it. Logging out is one tap.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from device.errors import LookupTimeoutError, ServerUnavailableError
from device.kiosk.services import ServiceClient


class CounterError(Exception):
    """A login that did not happen; ``code`` is an ``error.<code>`` catalogue key."""

    def __init__(self, code: str) -> None:
        super().__init__(code)
        self.code = code


@dataclass
class Officer:
    """Who is logged in at this counter."""

    name: str
    _session: str
    position: str = ""
    #: When the officer logged in (wall clock, for the system-information screen).
    since: datetime | None = None


class Counter:
    """The officer session of one kiosk."""

    def __init__(
        self, services: ServiceClient, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._services = services
        self._clock = clock
        self._lock = threading.Lock()
        self._officer: Officer | None = None
        self._touched_at = 0.0

    @property
    def officer(self) -> Officer | None:
        """The logged-in officer, or ``None``."""
        return self._officer

    def login(self, username: str, password: str) -> Officer:
        """Open a session on the server; raises :class:`CounterError`."""
        try:
            answer = self._services.ask("operator.login", username=username, password=password)
        except (ServerUnavailableError, LookupTimeoutError):
            raise CounterError("needs_network") from None
        if answer.status != "ok" or not answer.session:
            raise CounterError(answer.reason or answer.status)
        with self._lock:
            self._officer = Officer(
                answer.operator_name or username,
                answer.session,
                answer.operator_position or "",
                datetime.now().astimezone(),
            )
            self._touched_at = self._clock()
            return self._officer

    def touch(self) -> bool:
        """The page is open: keep the session alive. ``False``: it has ended."""
        officer = self._officer
        if officer is None:
            return False
        try:
            answer = self._services.ask("operator.touch", session=officer._session)
        except (ServerUnavailableError, LookupTimeoutError):
            return True  # offline for a moment: the server decides when it hears again
        if answer.status != "ok":
            self.forget()
            return False
        self._touched_at = self._clock()
        return True

    def still_valid(self, max_age_s: float = 10.0) -> bool:
        """Before a screen opens: ask the server again if the last touch is older than
        ``max_age_s`` (the page may have been closed and the account locked meanwhile)."""
        if self._officer is None:
            return False
        if self._clock() - self._touched_at < max_age_s:
            return True
        return self.touch()

    def logout(self) -> None:
        """End the session here and on the server (if it can be reached)."""
        with self._lock:
            officer, self._officer = self._officer, None
        if officer is None:
            return
        # Offline: the server locks the account when the touches stop; an administrator unlocks.
        with contextlib.suppress(ServerUnavailableError, LookupTimeoutError):
            self._services.ask("operator.logout", session=officer._session)

    def forget(self) -> None:
        """Drop the session locally (it ended on the server)."""
        with self._lock:
            self._officer = None
