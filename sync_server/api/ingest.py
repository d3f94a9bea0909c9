"""``/api/v1/ingest``: what the ingest workers applied and refused."""

from __future__ import annotations

import marshmallow as ma
from flask_smorest import Blueprint

from sync_server.api.auth import documented_scope
from sync_server.api.errors import json_errors
from sync_server.api.schemas import IngestStatsSchema, RejectionArgsSchema, RejectionListSchema
from sync_server.ingest.models import AppliedTransaction, RejectedMessage
from sync_server.petitions import service as petitions

blp = Blueprint(
    "api_ingest",
    __name__,
    url_prefix="/api/v1/ingest",
    description="Ingest counters and rejected messages (by size and hash, never content).",
)
json_errors(blp)  # JSON whatever handlers the pages add


@blp.get("/stats")
@documented_scope(blp, "ingest:read")
@blp.response(200, IngestStatsSchema)
def ingest_stats() -> dict[str, int]:
    """Counts of applied transactions, petitions and rejected messages."""
    return {
        "applied": AppliedTransaction.select().count(),
        "petitions": petitions.total(),
        "rejected": RejectedMessage.select().count(),
    }


@blp.get("/rejections")
@documented_scope(blp, "ingest:read")
@blp.arguments(RejectionArgsSchema, location="query", unknown=ma.RAISE)
@blp.response(200, RejectionListSchema)
def rejections(args: dict[str, int]) -> dict[str, object]:
    """The latest rejected messages, newest first: topic, reason, size, hash."""
    rows = RejectedMessage.select().order_by(RejectedMessage.id.desc()).limit(args["limit"])
    return {
        "rejections": [
            {
                "received_at": r.received_at,
                "topic": r.topic,
                "station_id": r.topic_station_id,
                "tx_id": r.tx_id,
                "reason": r.reason,
                "size": r.size,
                "payload_sha256": r.payload_sha256,
            }
            for r in rows
        ]
    }
