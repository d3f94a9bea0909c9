"""A small read-only JSON API: petitions by number, the fleet, ingest rejections."""

from __future__ import annotations

from flask import Blueprint, Response, abort, jsonify

from sync_server.db import database
from sync_server.models import AppliedTransaction, Petition, RejectedMessage, Station

bp = Blueprint("api", __name__, url_prefix="/api/v1")


def _iso(value: object) -> str | None:
    return value.isoformat() if value is not None else None


@bp.get("/health")
def health() -> Response:
    """Liveness plus a database round trip."""
    database.execute_sql("SELECT 1")
    return jsonify(status="ok")


@bp.get("/petitions/<number>")
def petition(number: str) -> Response:
    """A petition's status: no phone, citizen id or form content is disclosed here."""
    found = Petition.get_or_none(Petition.number == number.strip().upper())
    if found is None:
        abort(404, description="no petition with this number")
    return jsonify(
        number=found.number,
        service=found.service,
        status=found.status,
        station_id=found.station_id,
        received_at=_iso(found.received_at),
    )


@bp.get("/stations")
def stations() -> Response:
    """Every known station with presence and sync figures."""
    rows = Station.select().order_by(Station.station_id)
    return jsonify(
        stations=[
            {
                "station_id": s.station_id,
                "presence": s.presence,
                "presence_at": _iso(s.presence_at),
                "last_seen_at": _iso(s.last_seen_at),
                "last_heartbeat_at": _iso(s.last_heartbeat_at),
                "backlog": s.backlog,
                "oldest_undelivered_age_s": s.oldest_undelivered_age_s,
                "rejected": s.rejected,
                "transactions_applied": s.transactions_applied,
                "software_version": s.software_version,
            }
            for s in rows
        ]
    )


@bp.get("/ingest/stats")
def ingest_stats() -> Response:
    """Counts of applied transactions and rejected messages."""
    return jsonify(
        applied=AppliedTransaction.select().count(),
        petitions=Petition.select().count(),
        rejected=RejectedMessage.select().count(),
    )


@bp.get("/ingest/rejections")
def rejections() -> Response:
    """The latest 100 rejected messages: topic, reason, size, hash; never their content."""
    rows = RejectedMessage.select().order_by(RejectedMessage.id.desc()).limit(100)
    return jsonify(
        rejections=[
            {
                "received_at": _iso(r.received_at),
                "topic": r.topic,
                "station_id": r.topic_station_id,
                "tx_id": r.tx_id,
                "reason": r.reason,
                "size": r.size,
                "payload_sha256": r.payload_sha256,
            }
            for r in rows
        ]
    )
