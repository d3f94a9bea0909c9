"""The ops pack on the server: the workers' heartbeats and the readiness endpoint."""

from __future__ import annotations

from flask import Flask

from sync_server.ops.readiness import READY_DEFAULTS


def init_app(app: Flask) -> None:
    """Register ``/readyz`` and its configuration defaults."""
    from sync_server.ops.views import bp

    for key, value in READY_DEFAULTS.items():
        app.config.setdefault(key, value)
    app.register_blueprint(bp)
