"""``/api/v1/stations/{station_id}/...``: what ``dcs-provision`` records on the server.

The technician's laptop holds an API token, never the server's secrets: each endpoint calls
the server's own service functions (sync_server.fleet.enrollments, the dashboard's commands) and
the audit trail names the token. Enrolments and rotations are safe to retry: the same
certificate recorded again answers 200 with the first record instead of 201.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from flask import current_app
from flask_smorest import Blueprint, abort

from contract.identifiers import PETITION_SERIAL_MAX
from contract.topics import STATION_ID_PATTERN, is_valid_station_id
from sync_server.api.auth import current_token, documented_scope
from sync_server.api.errors import json_errors
from sync_server.api.schemas import (
    CertificateEventSchema,
    CountersSchema,
    DecommissionRequestSchema,
    DecommissionSchema,
    EnrolmentRecordSchema,
)
from sync_server.dashboard import commands
from sync_server.dashboard.models import CommandRecord
from sync_server.fleet import enrollments
from sync_server.petitions.filing import highest_serials

blp = Blueprint(
    "api_provisioning",
    __name__,
    url_prefix="/api/v1/stations",
    description="For dcs-provision: record enrolments and certificate rotations, decommission.",
)
json_errors(blp)  # JSON whatever handlers the pages add

#: The path parameter as the document states it (the view checks the same rule).
STATION_ID_PARAMETER = {
    "in": "path",
    "name": "station_id",
    "description": "lowercase slug, 3 to 32 characters",
    "schema": {"type": "string", "pattern": STATION_ID_PATTERN, "example": "st-lobby-a"},
}


def _checked(station_id: str) -> str:
    # fullmatch: the pattern's ``$`` must not admit a trailing newline, as in JSON Schema.
    if not is_valid_station_id(station_id) or station_id.endswith("\n"):
        abort(
            422,
            message="invalid station id",
            errors={"path": {"station_id": [f"a lowercase slug matching {STATION_ID_PATTERN}"]}},
        )
    return station_id


def _record(station_id: str, body: dict[str, Any], kind: str) -> tuple[object, int]:
    token = current_token()
    assert token is not None  # documented_scope ran first
    certificate = body["certificate"]
    entry, created = enrollments.record_once(
        station_id,
        serial=certificate["serial"],
        sha256=certificate["sha256"],
        not_after=certificate["not_after"],
        by=body.get("technician") or token.name,
        kind=kind,
        actor=token.name,
    )
    return entry, 201 if created else 200


@blp.post("/<string:station_id>/enrolments", parameters=[STATION_ID_PARAMETER])
@documented_scope(blp, "stations:enroll")
@blp.arguments(CertificateEventSchema)
@blp.response(201, EnrolmentRecordSchema, description="recorded")
@blp.alt_response(200, schema=EnrolmentRecordSchema, description="already on record")
def enrol(body: dict[str, Any], station_id: str) -> tuple[object, int]:
    """Record that a station was enrolled with this certificate (idempotent)."""
    return _record(_checked(station_id), body, "enrol")


@blp.post("/<string:station_id>/rotations", parameters=[STATION_ID_PARAMETER])
@documented_scope(blp, "stations:enroll")
@blp.arguments(CertificateEventSchema)
@blp.response(201, EnrolmentRecordSchema, description="recorded")
@blp.alt_response(200, schema=EnrolmentRecordSchema, description="already on record")
@blp.alt_response(409, response="CONFLICT", description="the station was never enrolled")
def rotate(body: dict[str, Any], station_id: str) -> tuple[object, int]:
    """Record a station's new certificate after a rotation (idempotent)."""
    _checked(station_id)
    if not enrollments.is_enrolled(station_id):
        abort(409, message=f"{station_id} has no enrolment on record: enrol it first")
    return _record(station_id, body, "rotate")


@blp.get("/<string:station_id>/counters", parameters=[STATION_ID_PARAMETER])
@documented_scope(blp, "stations:enroll")
@blp.response(200, CountersSchema)
def counters(station_id: str) -> dict[str, object]:
    """The highest petition serial applied from the station, for its replacement's bundle.

    Only what the server applied moves it (a station's own figures never do), and the
    ingest refuses a serial far past it, so a station cannot push it to the end of its range.
    """
    _checked(station_id)
    highest = highest_serials([station_id]).get(station_id, 0)
    return {
        "station_id": station_id,
        "petition_serial": highest,
        "petition_serial_max": PETITION_SERIAL_MAX,
    }


@blp.post("/<string:station_id>/replacements", parameters=[STATION_ID_PARAMETER])
@documented_scope(blp, "stations:enroll")
@blp.arguments(CertificateEventSchema)
@blp.response(201, EnrolmentRecordSchema, description="recorded")
@blp.alt_response(200, schema=EnrolmentRecordSchema, description="already on record")
@blp.alt_response(409, response="CONFLICT", description="the station was never enrolled")
def replace(body: dict[str, Any], station_id: str) -> tuple[object, int]:
    """Record a new SD card (and certificate) for a station already in service (idempotent)."""
    _checked(station_id)
    if not enrollments.is_enrolled(station_id):
        abort(409, message=f"{station_id} has no enrolment on record: enrol it as a new station")
    return _record(station_id, body, "replace")


@blp.post("/<string:station_id>/decommission", parameters=[STATION_ID_PARAMETER])
@documented_scope(blp, "stations:enroll", "stations:command")
@blp.arguments(DecommissionRequestSchema)
@blp.response(200, DecommissionSchema)
def decommission(body: dict[str, Any], station_id: str) -> dict[str, object]:
    """Mark the revoked certificates decommissioned and queue ``wipe_replica`` for the station.

    The wipe suspends the station's replica at once (the server sends it no more records)
    and waits for the station until its time to live ends, as one sent from the dashboard.
    """
    _checked(station_id)
    token = current_token()
    assert token is not None  # documented_scope ran first
    marked, unknown = enrollments.record_decommission(
        station_id,
        body["revoked_serials"],
        by=body.get("technician") or token.name,
        actor=token.name,
    )
    wipe, outcome, message = _queue_wipe(station_id, actor=token.name)
    return {
        "station_id": station_id,
        "decommissioned": marked,
        "unknown_serials": unknown,
        "wipe": wipe,
        "wipe_outcome": outcome,
        "message": message,
    }


def _queue_wipe(station_id: str, *, actor: str) -> tuple[CommandRecord | None, str, str]:
    """The command record, ``queued`` / ``no_replica`` / ``not_sent``, and what happened."""
    ttl = timedelta(seconds=float(current_app.config["REPLICA_COMMAND_TTL_S"]))
    try:
        record = commands.issue(station_id, "wipe_replica", actor=actor, ttl=ttl)
    except commands.CommandError as exc:
        return None, "no_replica", f"no replica to wipe: {exc}"
    except OSError as exc:
        # The replica is suspended already; the dashboard shows the command as failed.
        message = f"wipe_replica not sent, the broker is unreachable ({exc}); send it again later"
        return None, "not_sent", message
    message = f"wipe_replica queued (command {record.command_id}); it waits for the station"
    return record, "queued", message
