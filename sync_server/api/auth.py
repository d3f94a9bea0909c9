"""Bearer-token authentication for the API and the metrics.

``require_scope(*scopes)`` wraps a view: no token or an unknown or revoked one answers 401
with ``WWW-Authenticate: Bearer``; a live token without every scope named answers 403
(RFC 6750). Naming no scope admits any live token.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from flask import g, request
from flask_smorest import abort

from sync_server.api.tokens import SCOPES, ApiToken, find_live_token

#: The OpenAPI security scheme's name.
SECURITY_SCHEME = "bearerAuth"
REALM = "dcs"


def bearer_secret() -> str | None:
    """The token in ``Authorization: Bearer <token>``, if any."""
    kind, _, secret = request.headers.get("Authorization", "").partition(" ")
    if kind.lower() != "bearer" or not secret.strip():
        return None
    return secret.strip()


def current_token() -> ApiToken | None:
    """The token the current request was authorised with."""
    return g.get("api_token")


def authorise(*scopes: str) -> ApiToken:
    """Check this request's bearer token for every one of ``scopes``; abort with 401 or 403."""
    if unknown := [scope for scope in scopes if scope not in SCOPES]:
        raise ValueError(f"unknown scope {unknown[0]!r}")
    secret = bearer_secret()
    if secret is None:
        abort(
            401,
            message="an API token is needed: Authorization: Bearer <token>",
            headers={"WWW-Authenticate": f'Bearer realm="{REALM}"'},
        )
    token = find_live_token(secret)
    if token is None:
        abort(
            401,
            message="the API token is unknown or revoked",
            headers={"WWW-Authenticate": f'Bearer realm="{REALM}", error="invalid_token"'},
        )
    if missing := [scope for scope in scopes if scope not in token.scope_set]:
        abort(
            403,
            message=f"the API token lacks the scope {' and '.join(missing)}",
            headers={
                "WWW-Authenticate": (
                    f'Bearer realm="{REALM}", error="insufficient_scope", '
                    f'scope="{" ".join(scopes)}"'
                )
            },
        )
    g.api_token = token
    return token


def require_scope(*scopes: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """A view decorator: the request must carry a live token with every one of ``scopes``."""

    def decorator(view: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(view)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            authorise(*scopes)
            return view(*args, **kwargs)

        return wrapper

    return decorator


def documented_scope(
    blueprint: Any, *scopes: str
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """``require_scope`` plus its OpenAPI documentation (security, 401 and 403) on ``blueprint``."""

    def decorator(view: Callable[..., Any]) -> Callable[..., Any]:
        view = require_scope(*scopes)(view)
        view = blueprint.doc(security=[{SECURITY_SCHEME: []}], description=_needs(scopes))(view)
        view = blueprint.alt_response(401, response="UNAUTHORIZED")(view)
        if not scopes:
            return view
        return blueprint.alt_response(403, response="FORBIDDEN")(view)

    return decorator


def _needs(scopes: tuple[str, ...]) -> str:
    if not scopes:
        return "Needs any live token."
    named = " and ".join(f"`{scope}`" for scope in scopes)
    return f"Needs a token with the scope{'s' if len(scopes) > 1 else ''} {named}."
