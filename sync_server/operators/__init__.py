"""Operators of the central server: accounts, log in and out, roles, the audit trail.

Other blueprints guard their views with :func:`require_role` and write the audit trail with
:func:`record_audit`; :mod:`sync_server.operators.sessions` holds the rules (one machine per
account, an abandoned session locks the account) for any front end, the kiosk's counter mode
included.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar

from flask import Flask, abort, current_app, flash, g, redirect, request, session, url_for
from flask_babel import gettext

from sync_server.audit import audit
from sync_server.i18n import N_
from sync_server.operators import sessions
from sync_server.operators.models import ROLES, Operator, OperatorSession

__all__ = [
    "ROLES",
    "Operator",
    "OperatorSession",
    "current_operator",
    "init_app",
    "record_audit",
    "require_role",
]

F = TypeVar("F", bound=Callable[..., Any])

#: The Flask session key that carries the operator's session token.
SESSION_KEY = "operator_token"


def _load() -> Operator | None:
    """The operator of this request's session (touched now), or ``None``."""
    if "operator" in g:
        return g.operator
    token = session.get(SESSION_KEY)
    live = sessions.session_for(token)
    if live is None:
        if token:
            session.pop(SESSION_KEY, None)
            flash(gettext("Your session has ended; log in again"), "error")
    else:
        sessions.touch(token)
    g.operator = live.operator if live is not None else None
    return g.operator


def current_operator() -> Operator:
    """The logged-in operator (only inside a view guarded by :func:`require_role`)."""
    operator = _load()
    if operator is None:
        raise RuntimeError("no operator is logged in")
    return operator


def require_role(*roles: str) -> Callable[[F], F]:
    """Guard a view: anonymous → the login page (303); another role → 403.

    An operator who must change the password is sent to that page first.
    """
    unknown = set(roles) - set(ROLES)
    if unknown:
        raise ValueError(f"unknown roles {sorted(unknown)}")

    def decorate(view: F) -> F:
        @functools.wraps(view)
        def guarded(*args: Any, **kwargs: Any) -> Any:
            operator = _load()
            if operator is None:
                return redirect(url_for("operators.login", next=request.full_path), code=303)
            if operator.must_change_password:
                return redirect(url_for("operators.password"), code=303)
            if roles and operator.role not in roles:
                abort(403)
            return view(*args, **kwargs)

        return guarded  # type: ignore[return-value]

    return decorate


def record_audit(
    action: str,
    *,
    subject: str | None = None,
    outcome: str = "ok",
    actor: str | None = None,
) -> None:
    """Write one audit event; the actor defaults to the logged-in operator.

    ``subject`` is a record id (a petition number, a station id, a username), never a name,
    phone number or citizen id.
    """
    if actor is None:
        operator = _load()
        actor = operator.username if operator is not None else "anonymous"
    audit(actor, action, subject, outcome)


#: The header's links: endpoint, label (a msgid) and the roles that see it.
NAVIGATION = (
    ("backoffice.queue", N_("Petitions"), ("officer", "administrator")),
    ("dashboard.fleet", N_("Fleet"), ("operations", "administrator")),
    ("dashboard.alarms_page", N_("Alarms"), ("operations", "administrator")),
    ("sms.sent", N_("SMS sent"), ("operations", "administrator")),
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
