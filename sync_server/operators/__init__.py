"""Operators of the central server: accounts, log in and out, roles, the audit trail.

Other blueprints guard their views with :func:`require_role` and write the audit trail with
:func:`record_audit`; :mod:`sync_server.operators.sessions` holds the rules (one machine per
account, an abandoned session locks the account) for any front end, the kiosk's counter mode
included.
"""

from __future__ import annotations

from flask import Flask, current_app, g
from flask_babel import gettext

from sync_server.i18n import N_
from sync_server.operators import sessions
from sync_server.operators.access import (
    SESSION_KEY,
    current_operator,
    record_audit,
    require_role,
)
from sync_server.operators.models import ROLES, Operator, OperatorSession

__all__ = [
    "ROLES",
    "SESSION_KEY",
    "Operator",
    "OperatorSession",
    "current_operator",
    "init_app",
    "record_audit",
    "require_role",
]


#: The header's links: endpoint, label (a msgid) and the roles that see it.
NAVIGATION = (
    ("backoffice.queue", N_("Petitions"), ("officer", "administrator")),
    ("dashboard.fleet", N_("Fleet"), ("operations", "administrator")),
    ("dashboard.alarms_page", N_("Alarms"), ("operations", "administrator")),
    ("notifications.page", N_("Notifications"), ("operations", "administrator")),
    ("rollouts.list_page", N_("Rollouts"), ("operations", "administrator")),
    ("notices.page", N_("Public notices"), ("operations", "administrator")),
    ("sms.sent", N_("SMS sent"), ("operations", "administrator")),
    ("bills.fees", N_("Management fees"), ("building_manager", "administrator")),
    ("operators.admin_list", N_("Operators"), ("administrator",)),
    ("operators.audit", N_("Audit trail"), ("administrator",)),
)


def _navigation() -> list[tuple[str, str]]:
    """(endpoint, label in the page's language) links the operator's role may follow, of
    pages that exist."""
    operator = g.get("operator")
    if operator is None:
        return []
    return [
        (endpoint, gettext(label))
        for endpoint, label, roles in NAVIGATION
        if operator.role in roles and endpoint in current_app.view_functions
    ]


def init_app(app: Flask) -> None:
    """Register the login, account and administration pages."""
    from sync_server.operators.views import bp

    app.config.setdefault("SESSION_ABANDON_S", sessions.DEFAULT_ABANDON_S)
    app.config.setdefault("SESSION_HEARTBEAT_S", 15)
    app.register_blueprint(bp)

    @app.context_processor
    def _layout() -> dict[str, object]:
        return {"nav_links": _navigation(), "operator": g.get("operator")}
