"""``/api/v1/health``: liveness plus a database round trip, open to all (load balancers)."""

from __future__ import annotations

from flask_smorest import Blueprint

from sync_server.api.errors import json_errors
from sync_server.api.schemas import HealthSchema
from sync_server.db import database

blp = Blueprint("api_health", __name__, url_prefix="/api/v1", description="Liveness")
json_errors(blp)  # JSON whatever handlers the pages add


@blp.get("/health")
@blp.response(200, HealthSchema)
def health() -> dict[str, str]:
    """Liveness and a database round trip (no token needed)."""
    database.execute_sql("SELECT 1")
    return {"status": "ok"}
