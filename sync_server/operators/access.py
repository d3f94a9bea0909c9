"""Who is logged in, and the guard every staff page uses (:func:`require_role`).

Kept apart from the package's ``__init__`` so the pages (``views.py``) and the other
blueprints import it without importing the app setup, which imports the pages.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar

from flask import abort, flash, g, redirect, request, session, url_for
from flask_babel import gettext

from sync_server.audit import audit
from sync_server.operators import sessions
from sync_server.operators.models import ROLES, Operator

F = TypeVar("F", bound=Callable[..., Any])

#: The Flask session key that carries the operator's session token.
SESSION_KEY = "operator_token"


def load_operator() -> Operator | None:
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
    operator = load_operator()
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
            operator = load_operator()
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
        operator = load_operator()
        actor = operator.username if operator is not None else "anonymous"
    audit(actor, action, subject, outcome)
