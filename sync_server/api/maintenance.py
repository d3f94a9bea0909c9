"""``/api/v1/maintenance-windows``: silence a station's (or a building's) notifications for
a while, from a ticketing or deployment tool; the dashboard has the same on its
notifications page."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from flask_smorest import Blueprint, abort

from sync_server.api.auth import current_token, documented_scope
from sync_server.api.errors import json_errors
from sync_server.api.schemas import (
    MaintenanceWindowListSchema,
    MaintenanceWindowRequestSchema,
    MaintenanceWindowSchema,
)
from sync_server.audit import audit
from sync_server.db import utc_now, write_transaction
from sync_server.notifications import maintenance

blp = Blueprint(
    "api_maintenance",
    __name__,
    url_prefix="/api/v1/maintenance-windows",
    description="Maintenance windows: a station's alarms tell nobody while one lasts.",
)
json_errors(blp)  # JSON whatever handlers the pages add


def _utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC)  # the schema hands back naive UTC


@blp.get("")
@documented_scope(blp, "stations:read")
@blp.response(200, MaintenanceWindowListSchema)
def windows() -> dict[str, object]:
    """The windows that have not ended, soonest first."""
    return {"windows": maintenance.current_and_future()}


@blp.post("")
@documented_scope(blp, "maintenance:write")
@blp.arguments(MaintenanceWindowRequestSchema)
@blp.response(201, MaintenanceWindowSchema)
def create(body: dict[str, Any]) -> object:
    """Open a window for one station or one building (starting now unless ``starts_at``)."""
    token = current_token()
    assert token is not None  # documented_scope ran first
    starts_at = _utc(body["starts_at"]) if body.get("starts_at") else utc_now()
    try:
        ends_at = starts_at + timedelta(minutes=body["minutes"])
    except OverflowError:  # a start at the end of time: the window ends there too
        ends_at = datetime.max.replace(tzinfo=UTC)
    kind, _, name = body["subject"].partition(":")
    try:
        window = maintenance.create(
            station_id=name if kind == "station" else None,
            building=name if kind == "building" else None,
            starts_at=starts_at,
            ends_at=ends_at,
            reason=body["reason"],
            by=f"api:{token.name}",
        )
    except maintenance.MaintenanceError as exc:  # what the schema cannot say: never a 500
        abort(422, message=str(exc))
    with write_transaction():
        audit(f"api:{token.name}", "maintenance.add", window.station_id or window.building, "ok")
    return window


@blp.post("/<int:window_id>/end")
@documented_scope(blp, "maintenance:write")
@blp.response(200, MaintenanceWindowSchema)
@blp.alt_response(404, response="NOT_FOUND")
def end(window_id: int) -> object:
    """End a window now (a future one is dropped)."""
    token = current_token()
    assert token is not None
    # Beyond the id column's range no window can exist (and the driver would refuse it).
    window = maintenance.end(window_id) if 0 < window_id < 2**31 else None
    if window is None:
        abort(404, message="no maintenance window with this id")
    with write_transaction():
        audit(f"api:{token.name}", "maintenance.end", window.station_id or window.building, "ok")
    return window
