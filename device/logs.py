"""The station's logging setup: JSON lines through structlog (``contract/logs.py``) for the
journal, with personal fields dropped. Called by ``dcs-station``."""

from __future__ import annotations

import logging
from typing import TextIO

from contract.logs import configure

SERVICE = "dcs-station"


def setup(level: int = logging.WARNING, *, stream: TextIO | None = None) -> logging.Handler:
    """Configure this process's logs (``level`` and up, to ``stream``, default stderr)."""
    # python-escpos calls basicConfig() when imported: configure() replaces its handler.
    return configure(SERVICE, level, stream=stream, quiet=("escpos", "paho", "PIL"))
