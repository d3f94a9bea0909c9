"""Alarms reach people: notification rules (SMS, e-mail, webhook), their outbox and worker,
and maintenance windows that silence a station. See docs/dashboard.md#notifications."""

from __future__ import annotations

from flask import Flask

from sync_server.notifications.delivery import NOTIFY_DEFAULTS


def init_app(app: Flask) -> None:
    """Fill in the ``NOTIFY_*`` defaults and register the dashboard's notifications page."""
    from sync_server.notifications.views import bp

    for key, value in NOTIFY_DEFAULTS.items():
        app.config.setdefault(key, value)
    app.register_blueprint(bp)
