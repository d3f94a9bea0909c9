"""One JSON error shape for the API, and the API object that uses it only under its own paths.

Every error the API answers is ``{"code": 404, "status": "Not Found", "message": "..."}``
(plus ``errors`` for invalid arguments). flask-smorest would render *every* HTTP error of
the application this way; the server's HTML pages (tracking, dashboard) keep their own.

The handler is registered twice: app-wide by exception class (for URLs no view matched,
under the API's paths only), and on each API blueprint for every HTTP error code, so an
error raised in an API view stays JSON even if a page adds an app-wide
``errorhandler(404)`` (Flask prefers any handler for the code over one for the class).
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, request
from flask_smorest import Api
from werkzeug.exceptions import HTTPException, default_exceptions

#: Paths whose errors are JSON.
JSON_ERROR_PREFIXES = ("/api/", "/metrics")


def json_error(error: HTTPException) -> tuple[dict[str, Any], int, dict[str, str]]:
    """The JSON answer for ``error``: code, status, message and any argument errors."""
    payload: dict[str, Any] = {"code": error.code, "status": error.name}
    data = getattr(error, "data", None) or {}  # what flask_smorest.abort() was given
    payload["message"] = data.get("message", error.description)
    errors = data.get("errors", data.get("messages"))  # webargs puts validation in "messages"
    if errors:
        payload["errors"] = errors
    # Keep what the error itself says in headers (405's Allow, 429's Retry-After).
    headers = {name: value for name, value in error.get_headers() if name != "Content-Type"}
    return payload, error.code or 500, headers | dict(data.get("headers") or {})


def json_errors(blueprint: Blueprint) -> None:
    """Answer every HTTP error raised in ``blueprint``'s views with :func:`json_error`."""
    for code in default_exceptions:
        blueprint.register_error_handler(code, json_error)


class ScopedErrorsApi(Api):
    """flask-smorest's ``Api`` whose JSON errors stay within the API's paths."""

    def handle_http_exception(self, error: HTTPException):  # type: ignore[override]
        """JSON for API paths; Flask's own page elsewhere."""
        if not request.path.startswith(JSON_ERROR_PREFIXES):
            return error
        return json_error(error)
