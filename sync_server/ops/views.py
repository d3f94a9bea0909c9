"""``/readyz``: 200 when the server is ready for work, 503 naming what is not (no token:
it tells nothing but the names of our own parts and their ages)."""

from __future__ import annotations

from flask import Blueprint, Response, current_app, jsonify

from sync_server.ops import readiness

bp = Blueprint("ops", __name__)


@bp.get("/readyz")
def readyz() -> tuple[Response, int]:
    """The readiness checks as JSON; status 503 when any failed."""
    result = readiness.check(current_app.config)
    response = jsonify(result.as_json())
    response.headers["Cache-Control"] = "no-store"
    return response, 200 if result.ready else 503
