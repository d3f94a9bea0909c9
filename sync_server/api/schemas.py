"""The API's response and argument schemas (marshmallow); the OpenAPI document is built from them.

Nothing here carries personal data: no phone, citizen id, name, form content or comment.
"""

from __future__ import annotations

import marshmallow as ma
from marshmallow import fields, validate

from sync_server.api.fields import UtcDateTime


class HealthSchema(ma.Schema):
    status = fields.String(required=True, metadata={"example": "ok"})


class PetitionStatusSchema(ma.Schema):
    """A petition's status as an integration may see it."""

    number = fields.String(required=True, metadata={"example": "P-LOBBYA-0000001-K"})
    service = fields.String(required=True, metadata={"example": "general_petition"})
    status = fields.String(required=True, metadata={"example": "received"})
    station_id = fields.String(required=True, metadata={"example": "st-lobby-a"})
    received_at = UtcDateTime(required=True)


class StatusStepSchema(ma.Schema):
    """One step of a petition's history: the status and when (no officer, no comment)."""

    status = fields.String(required=True)
    at = UtcDateTime(required=True)


class PetitionHistorySchema(ma.Schema):
    number = fields.String(required=True)
    status = fields.String(required=True, metadata={"description": "the current status"})
    history = fields.List(fields.Nested(StatusStepSchema), required=True)


class StationSchema(ma.Schema):
    """A station with its presence and sync figures."""

    station_id = fields.String(required=True)
    presence = fields.String(required=True, metadata={"example": "online"})
    presence_at = UtcDateTime(allow_none=True, required=True)
    last_seen_at = UtcDateTime(allow_none=True, required=True)
    last_heartbeat_at = UtcDateTime(allow_none=True, required=True)
    backlog = fields.Integer(required=True, metadata={"description": "outbox rows not yet acked"})
    oldest_undelivered_age_s = fields.Float(
        allow_none=True,
        required=True,
        metadata={"description": "the station's sync lag: age of its oldest unacked transaction"},
    )
    rejected = fields.Integer(required=True)
    transactions_applied = fields.Integer(required=True)
    software_version = fields.String(allow_none=True, required=True)


class StationListSchema(ma.Schema):
    stations = fields.List(fields.Nested(StationSchema), required=True)


class StationListArgsSchema(ma.Schema):
    presence = fields.String(
        validate=validate.OneOf(["online", "offline", "unknown"]),
        metadata={"description": "only stations with this presence"},
    )


class ReplicaEnrolmentSchema(ma.Schema):
    building = fields.String(required=True)
    enrolled_at = UtcDateTime(required=True)
    suspended = fields.Boolean(required=True, metadata={"description": "wiped until a refresh"})


class StationDetailSchema(StationSchema):
    """A station with its last heartbeat's device gauges and its replica enrolment."""

    first_seen_at = UtcDateTime(required=True)
    device_metrics = fields.Dict(
        keys=fields.String(),
        values=fields.Float(),
        required=True,
        metadata={"description": "printer_state, tamper_open, watchdog_resets, ... by name"},
    )
    replica = fields.Nested(ReplicaEnrolmentSchema, allow_none=True, required=True)


class IngestStatsSchema(ma.Schema):
    applied = fields.Integer(required=True)
    petitions = fields.Integer(required=True)
    rejected = fields.Integer(required=True)


class RejectionSchema(ma.Schema):
    """A rejected message by size and hash; never its content."""

    received_at = UtcDateTime(required=True)
    topic = fields.String(required=True)
    station_id = fields.String(allow_none=True, required=True)
    tx_id = fields.String(allow_none=True, required=True)
    reason = fields.String(required=True)
    size = fields.Integer(required=True)
    payload_sha256 = fields.String(required=True)


class RejectionListSchema(ma.Schema):
    rejections = fields.List(fields.Nested(RejectionSchema), required=True)


class RejectionArgsSchema(ma.Schema):
    limit = fields.Integer(
        load_default=100,
        validate=validate.Range(min=1, max=1000),
        metadata={"description": "how many of the latest to return"},
    )
