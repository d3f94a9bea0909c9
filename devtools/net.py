"""Loopback helpers for local servers (demo and tests)."""

from __future__ import annotations

import socket
import time
from collections.abc import Callable


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port the kernel reports free right now (bind to 0 and read it back)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def wait_for_port(
    host: str,
    port: int,
    attempts: int = 200,
    pause_s: float = 0.05,
    alive: Callable[[], bool] | None = None,
) -> bool:
    """True once something accepts TCP connections on ``host:port`` (bounded attempts).

    With ``alive``, gives up at once when it says the process meant to listen has exited.
    """
    for _ in range(attempts):
        try:
            with socket.create_connection((host, port), timeout=1):
                return True
        except OSError:
            if alive is not None and not alive():
                return False
            time.sleep(pause_s)
    return False
