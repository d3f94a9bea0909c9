"""``/api/v1/stations``: the fleet as the server last heard of it."""

from __future__ import annotations

import json

import marshmallow as ma
from flask_smorest import Blueprint, abort

from sync_server.api.auth import documented_scope
from sync_server.api.errors import json_errors
from sync_server.api.schemas import StationDetailSchema, StationListArgsSchema, StationListSchema
from sync_server.fleet.models import Station
from sync_server.replicas.models import StationReplica

blp = Blueprint(
    "api_stations",
    __name__,
    url_prefix="/api/v1/stations",
    description="Stations: presence, outbox backlog and sync lag, device gauges.",
)
json_errors(blp)  # JSON whatever handlers the pages add


@blp.get("")
@documented_scope(blp, "stations:read")
@blp.arguments(StationListArgsSchema, location="query", unknown=ma.RAISE)
@blp.response(200, StationListSchema)
def stations(args: dict[str, str]) -> dict[str, object]:
    """Every known station with presence and sync figures, by station id."""
    query = Station.select().order_by(Station.station_id)
    if "presence" in args:
        query = query.where(Station.presence == args["presence"])
    return {"stations": list(query)}


@blp.get("/<string:station_id>")
@documented_scope(blp, "stations:read")
@blp.response(200, StationDetailSchema)
@blp.alt_response(404, response="NOT_FOUND")
def station(station_id: str) -> dict[str, object]:
    """One station: sync figures, its last heartbeat's device gauges, its replica enrolment."""
    found = Station.get_or_none(Station.station_id == station_id)
    if found is None:
        abort(404, message="no station with this id")
    replica = StationReplica.get_or_none(StationReplica.station_id == station_id)
    detail = dict(found.__data__) | {
        "device_metrics": json.loads(found.metrics) if found.metrics else {},
        "replica": None,
    }
    if replica is not None:
        detail["replica"] = {
            "building": replica.building,
            "enrolled_at": replica.enrolled_at,
            "suspended": replica.suspended,
        }
    return detail
