"""One JSON error shape for the API, and the API object that uses it only under its own paths.

Every error the API answers is ``{"code": 404, "status": "Not Found", "message": "..."}``
(plus ``errors`` for invalid arguments). flask-smorest would render *every* HTTP error of
the application this way; the server's HTML pages (tracking, dashboard) keep their own.
"""

from __future__ import annotations

from flask import request
from flask_smorest import Api
from werkzeug.exceptions import HTTPException

#: Paths whose errors are JSON.
JSON_ERROR_PREFIXES = ("/api/", "/metrics")


class ScopedErrorsApi(Api):
    """flask-smorest's ``Api`` whose JSON errors stay within the API's paths."""

    def handle_http_exception(self, error: HTTPException):  # type: ignore[override]
        """JSON for API paths (always with a message); Flask's own page elsewhere."""
        if not request.path.startswith(JSON_ERROR_PREFIXES):
            return error
        payload, code, headers = super().handle_http_exception(error)
        payload.setdefault("message", error.description)
        # Keep what the error itself says in headers (405's Allow, 429's Retry-After).
        own = {name: value for name, value in error.get_headers() if name != "Content-Type"}
        return payload, code, own | dict(headers or {})
