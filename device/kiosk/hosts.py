"""Only the kiosk's own loopback names may reach it: a defence against DNS rebinding.

A web page anywhere (an ad, a link opened on the station's Chromium, a page a resident's
phone shows on the same network if the kiosk were ever bound wider) can point a host name
it controls at 127.0.0.1 and then script requests to ``http://evil.example:8080/`` that the
browser treats as same-origin with the attacker. Those requests carry ``Host:
evil.example:8080``. The kiosk answers only when the Host header names one of its loopback
names *and* the port it listens on; anything else gets 400 before the app runs.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from typing import Any

#: ``name`` or ``name:port``; an IPv6 name is bracketed (``[::1]:8080``).
_HOST_HEADER = re.compile(r"^(\[[0-9A-Fa-f:.]+\]|[^:\[\]/\s]+)(?::([0-9]{1,5}))?$")
#: The port a Host header without one means (the kiosk serves plain HTTP).
DEFAULT_HTTP_PORT = "80"

WsgiApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


def host_name_for(address: str) -> str:
    """How a bind address appears in a Host header (IPv6 bracketed), lower-case."""
    return f"[{address}]".lower() if ":" in address else address.lower()


def host_allowed(environ: dict[str, Any], names: frozenset[str]) -> bool:
    """Whether the request's Host header is one of ``names`` on the port it came in on."""
    match = _HOST_HEADER.match(environ.get("HTTP_HOST", ""))
    if match is None:
        return False
    name, port = match.group(1).lower(), match.group(2) or DEFAULT_HTTP_PORT
    return name in names and port == str(environ.get("SERVER_PORT", ""))


class LoopbackHostOnly:
    """WSGI middleware: 400 for a request whose Host is not the kiosk's own."""

    def __init__(self, app: WsgiApp, names: Iterable[str]) -> None:
        self.app = app
        self.names = frozenset(name.lower() for name in names)

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        if host_allowed(environ, self.names):
            return self.app(environ, start_response)
        body = b"Bad Request: unknown host\n"
        start_response(
            "400 Bad Request",
            [
                ("Content-Type", "text/plain; charset=utf-8"),
                ("Content-Length", str(len(body))),
                ("Cache-Control", "no-store"),
            ],
        )
        return [body]
