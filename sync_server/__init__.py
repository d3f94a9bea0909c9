"""The central server: master records, MQTT ingest, the web API."""

from __future__ import annotations

import os
import tomllib
from pathlib import Path
from typing import Any

from flask import Flask

from sync_server import db, migrations, security
from sync_server.config import DEFAULTS, ServerConfigError, broker_settings

__all__ = ["ServerConfigError", "broker_settings", "create_app"]


def create_app(test_config: dict[str, Any] | None = None, *, check_schema: bool = True) -> Flask:
    """The Flask application factory.

    Configuration: the defaults, then the TOML file named by ``DCS_SERVER_CONFIG`` (or
    ``instance/config.toml``), then ``DCS_*`` environment variables, then ``test_config``.
    It never creates a table: it raises :class:`ServerConfigError` naming
    ``dcs-server db upgrade`` when the database is not at this code's schema
    (``check_schema=False`` is for the ``db`` commands themselves).
    """
    app = Flask(__name__, instance_relative_config=True)
    app.config.from_mapping(DEFAULTS)
    config_file = os.environ.get("DCS_SERVER_CONFIG")
    if config_file:
        app.config.from_file(config_file, load=tomllib.load, text=False)
    else:
        app.config.from_file("config.toml", load=tomllib.load, text=False, silent=True)
    app.config.from_prefixed_env("DCS")
    if test_config is not None:
        app.config.update(test_config)

    security.init_app(app)  # refuses a missing or placeholder SECRET_KEY outside tests
    if not app.config["DATABASE_URL"]:
        Path(app.instance_path).mkdir(parents=True, exist_ok=True)
        app.config["DATABASE_URL"] = f"sqlite:///{Path(app.instance_path) / 'dcs.sqlite3'}"

    db.init_app(app)
    if check_schema:
        try:
            migrations.require_current(db.database.obj)
        except migrations.SchemaError as exc:
            raise ServerConfigError(str(exc)) from None

    from sync_server import i18n, local_time

    i18n.init_app(app)  # Flask-Babel: the pages' language, before any blueprint renders
    local_time.init_app(app)  # the deployment's zone and calendar; refuses unknown ones

    from sync_server import api

    api.init_app(app)  # /api/v1, its OpenAPI document, /metrics

    from flask_wtf.csrf import CSRFProtect

    from sync_server import otp, sms
    from sync_server.tracking.views import bp as tracking_bp

    sms.init_app(app)
    otp.init_app(app)
    if "csrf" not in app.extensions:  # every form posts with a CSRF token
        CSRFProtect(app)
    app.register_blueprint(tracking_bp)

    from sync_server import operators

    operators.init_app(app)  # log in, accounts, audit trail; guards the other pages

    from sync_server.backoffice.views import bp as backoffice_bp
    from sync_server.sms.views import bp as sms_bp

    app.register_blueprint(backoffice_bp)  # officers: the petition queue
    app.register_blueprint(sms_bp)  # operations: what the SMS driver sent

    from sync_server import dashboard

    dashboard.init_app(app)  # operations: fleet, alarms, commands, charts

    from sync_server import notifications, ops

    notifications.init_app(app)  # alarms told by SMS, e-mail, webhook; maintenance windows
    ops.init_app(app)  # /readyz
    from sync_server import rollouts

    rollouts.init_app(app)  # operations: releases, staged rollouts, remote configuration
    from sync_server import bills

    bills.init_app(app)  # building managers: management fees; the bank's payment webhook
    from sync_server import notices

    notices.init_app(app)  # operations: public notices for the stations' home screens
    return app
