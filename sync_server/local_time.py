"""The server's times as people read them: the deployment's zone and calendar.

``TIMEZONE`` and ``CALENDAR`` of the config (the same deployment as the stations'
``[local_time]``) make a :class:`contract.local_time.LocalTime`; every page (the tracking
page, the back office, the dashboard, the audit trail) writes times through the
``local_time`` filter registered here, in the page's language. Workers without an app pass
their config to :func:`deployment`.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import msgspec
from flask import Flask, current_app, has_app_context

from contract.local_time import LocalTime, format_moment
from sync_server.config import DEFAULTS, ServerConfigError
from sync_server.i18n import current_language

_EXTENSION = "dcs_local_time"


def deployment(config: Mapping[str, Any] | None = None) -> LocalTime:
    """The deployment's zone and calendar from ``config`` (default: the app's, else the
    defaults); ServerConfigError for an unknown zone or calendar."""
    if config is None and has_app_context():
        made = current_app.extensions.get(_EXTENSION)
        if made is not None:
            return made
        config = current_app.config
    config = config or DEFAULTS
    try:
        return msgspec.convert(
            {
                "timezone": config.get("TIMEZONE") or DEFAULTS["TIMEZONE"],
                "calendar": config.get("CALENDAR") or DEFAULTS["CALENDAR"],
            },
            LocalTime,
        )
    except msgspec.ValidationError as exc:
        raise ServerConfigError(f"TIMEZONE/CALENDAR: {exc}") from None


def local_time(value: datetime | None, language: str | None = None) -> str:
    """A stored time in the deployment's zone and calendar, in ``language`` (default: the
    page's). The database hands back naive UTC (peewee, PostgreSQL ``timestamp``): it is
    marked UTC here, the one place that knows it."""
    if value is None:
        return "—"
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return format_moment(value, deployment(), language or current_language())


def init_app(app: Flask) -> None:
    """Check the deployment's zone and calendar at start; the ``local_time`` filter."""
    app.extensions[_EXTENSION] = deployment(app.config)
    app.add_template_filter(local_time, "local_time")
