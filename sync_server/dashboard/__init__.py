"""The operations dashboard: fleet, stations, alarms by rules, remote commands, charts."""

from __future__ import annotations

from flask import Flask

from sync_server.dashboard.alarms import DEFAULT_THRESHOLDS


def init_app(app: Flask) -> None:
    """Register the pages and their configuration defaults."""
    from sync_server.dashboard.views import bp

    app.config.setdefault("COMMAND_TTL_S", 24 * 3600)
    app.config.setdefault("DASHBOARD_POLL_S", 1.0)
    app.config.setdefault("DASHBOARD_STREAM_S", 300.0)
    app.config.setdefault("ALARM_POLL_S", 15.0)
    app.config.setdefault("HEARTBEAT_HISTORY_DAYS", 30.0)
    for key, value in DEFAULT_THRESHOLDS.items():
        app.config.setdefault(key, value)
    app.register_blueprint(bp)
