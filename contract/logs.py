"""Structured JSON logs for both sides (server and station), through structlog.

Every record — from ``structlog.get_logger()`` or from the standard library's
``logging.getLogger(__name__).info(...)`` that the code already uses — leaves as one JSON
object per line: ``timestamp`` (UTC, ISO 8601), ``level``, ``logger``, ``service``,
``event`` (the message, its ``%`` arguments filled in), any key-value pairs, and the
traceback as ``exception``. ``DCS_LOG_FORMAT=console`` prints the same for people instead.

No personal data: :func:`redact` drops the fields named in :data:`PERSONAL_FIELDS` at any
depth and masks what looks like a Thai citizen id or mobile number inside any text, so a
careless ``log.info("... %s", citizen_id)`` does not leak one. Each side's setup module
(``sync_server/logs.py``, ``device/logs.py``) calls :func:`configure`.
"""

from __future__ import annotations

import logging
import os
import re
import sys
from collections.abc import Iterable, Mapping, MutableMapping
from typing import Any, TextIO

import structlog

#: Keys never logged, whatever their value (lower case; ``-`` and ``_`` are the same).
PERSONAL_FIELDS = frozenset(
    {
        "citizen_id",
        "national_id",
        "id_number",
        "name",
        "first_name",
        "last_name",
        "full_name",
        "name_th",
        "name_en",
        "birth_date",
        "date_of_birth",
        "phone",
        "mobile",
        "to",
        "address",
        "email",
        "photo",
        "pin",
        "password",
        "code",
        "otp",
        "secret",
        "token",
        "form",
        "comment",
    }
)
REDACTED = "[redacted]"
#: A Thai citizen id (13 digits, optionally as 1-2345-67890-12-3) or mobile number (0 and
#: nine digits, optionally 081-234-5678) standing alone in a text.
_CITIZEN_ID = re.compile(r"(?<![\d-])\d(?:-?\d){12}(?![\d-])")
_MOBILE = re.compile(r"(?<![\d-])0[689]\d-?\d{3}-?\d{4}(?![\d-])")

#: What the standard library's records carry that is not the caller's own data.
_RECORD_NOISE = ("_record", "_from_structlog")


def _clean_key(key: str) -> str:
    return key.lower().replace("-", "_")


def scrub(text: str) -> str:
    """``text`` with anything shaped like a citizen id or a mobile number masked."""
    return _MOBILE.sub(REDACTED, _CITIZEN_ID.sub(REDACTED, text))


def _redact_value(value: Any, depth: int = 0) -> Any:
    if depth > 5:
        return REDACTED
    if isinstance(value, str):
        return scrub(value)
    if isinstance(value, Mapping):
        return {
            k: _redact_value(v, depth + 1)
            for k, v in value.items()
            if _clean_key(str(k)) not in PERSONAL_FIELDS
        }
    if isinstance(value, list | tuple | set):
        return [_redact_value(v, depth + 1) for v in value]
    return value


def redact(
    logger: Any, method_name: str, event_dict: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    """structlog processor: drop personal fields, mask ids and numbers in every text."""
    for key in list(event_dict):
        if key in _RECORD_NOISE:
            continue
        if _clean_key(key) in PERSONAL_FIELDS:
            del event_dict[key]
        else:
            event_dict[key] = _redact_value(event_dict[key])
    return event_dict


def _service(name: str) -> structlog.types.Processor:
    def add(logger: Any, method_name: str, event_dict: MutableMapping[str, Any]) -> Any:
        event_dict.setdefault("service", name)
        return event_dict

    return add


def configure(
    service: str,
    level: int = logging.INFO,
    *,
    stream: TextIO | None = None,
    quiet: Iterable[str] = (),
) -> logging.Handler:
    """Route every log record of this process through structlog to ``stream`` (stderr).

    Replaces the root logger's handlers (a library that called ``basicConfig`` at import
    loses its own); ``quiet`` names loggers held at WARNING. Returns the handler installed.
    """
    shared: list[structlog.types.Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.stdlib.PositionalArgumentsFormatter(),
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        _service(service),
    ]
    console = os.environ.get("DCS_LOG_FORMAT", "json").lower() == "console"
    renderer: structlog.types.Processor = (
        structlog.dev.ConsoleRenderer(colors=False)
        if console
        else structlog.processors.JSONRenderer(ensure_ascii=False)
    )
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=shared,
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            structlog.processors.format_exc_info,
            redact,  # last before rendering: a traceback's text is scrubbed too
            renderer,
        ],
    )
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    for name in quiet:
        logging.getLogger(name).setLevel(logging.WARNING)
    structlog.configure(
        processors=[*shared, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
    return handler
