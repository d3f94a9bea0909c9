"""``/api/v1/petitions``: a petition's status and history by number; nothing personal."""

from __future__ import annotations

from flask_smorest import Blueprint, abort

from sync_server.api.auth import documented_scope
from sync_server.api.errors import json_errors
from sync_server.api.schemas import PetitionHistorySchema, PetitionStatusSchema
from sync_server.petitions import service
from sync_server.petitions.service import PetitionSummary

blp = Blueprint(
    "api_petitions",
    __name__,
    url_prefix="/api/v1/petitions",
    description="Petition status by number (no phone, citizen id, form or comment).",
)
json_errors(blp)  # JSON whatever handlers the pages add


def _petition(number: str) -> PetitionSummary:
    found = service.find(number.strip().upper())
    if found is None:
        abort(404, message="no petition with this number")
    return found


@blp.get("/<string:number>")
@documented_scope(blp, "petitions:read")
@blp.response(200, PetitionStatusSchema)
@blp.alt_response(404, response="NOT_FOUND")
def petition(number: str) -> PetitionSummary:
    """A petition's current status (the number is case-insensitive)."""
    return _petition(number)


@blp.get("/<string:number>/history")
@documented_scope(blp, "petitions:read")
@blp.response(200, PetitionHistorySchema)
@blp.alt_response(404, response="NOT_FOUND")
def petition_history(number: str) -> dict[str, object]:
    """Every status the petition has had, oldest first: status and time only."""
    found = _petition(number)
    return {
        "number": found.number,
        "status": found.status,
        "history": [{"status": step.status, "at": step.at} for step in found.history],
    }
