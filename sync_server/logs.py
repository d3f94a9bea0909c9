"""The server's logging setup: JSON lines through structlog (``contract/logs.py``), with
personal fields dropped. Called by every ``dcs-server`` command and by the WSGI app."""

from __future__ import annotations

import logging
from typing import TextIO

from contract.logs import configure

SERVICE = "dcs-server"


def setup(level: int = logging.INFO, *, stream: TextIO | None = None) -> logging.Handler:
    """Configure this process's logs (``level`` and up, to ``stream``, default stderr)."""
    # paho's and peewee's debug chatter is not the operators' business at INFO.
    return configure(SERVICE, level, stream=stream, quiet=("peewee", "paho", "urllib3"))
