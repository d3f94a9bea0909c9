"""The API's request, response and argument schemas (marshmallow); the OpenAPI document is
built from them.

Nothing here carries personal data: no phone, citizen id, name, form content or comment.
Every rule a request must follow is in its schema (a pattern, a length), so the document
promises exactly what the server accepts.
"""

from __future__ import annotations

import marshmallow as ma
from marshmallow import fields, validate

from sync_server.api.fields import UtcDateTime, UtcInput, WholeMatch


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


#: A certificate serial as ``dcs-provision`` writes it: lowercase hex, no leading zeros needed.
SERIAL_PATTERN = r"^[0-9a-f]{1,64}$"
#: A name a person reads back: no control characters.
PRINTABLE_NAME_PATTERN = r"^[^\x00-\x1f\x7f]{1,64}$"


def serial_field(**kwargs: object) -> fields.String:
    """A certificate serial, validated and documented alike."""
    return fields.String(
        validate=WholeMatch(SERIAL_PATTERN, error="a lowercase hex serial of 1 to 64 digits"),
        metadata={"example": "5f1c0e7a9b"},
        **kwargs,
    )


class CertificateSchema(ma.Schema):
    """A station certificate as the CA issued it."""

    serial = serial_field(required=True)
    sha256 = fields.String(
        required=True,
        validate=WholeMatch(r"^[0-9a-f]{64}$", error="64 lowercase hex digits"),
        metadata={"description": "SHA-256 of the DER certificate, lowercase hex"},
    )
    not_after = UtcInput(required=True, metadata={"description": "its expiry"})


def technician_field() -> fields.String:
    """Who did it on site; the token's name when left out."""
    return fields.String(
        validate=WholeMatch(PRINTABLE_NAME_PATTERN, error="1 to 64 printable characters"),
        metadata={"description": "who did it on site (default: the token's name)"},
    )


class CertificateEventSchema(ma.Schema):
    """An enrolment or a rotation: the station's new certificate and who installed it."""

    certificate = fields.Nested(CertificateSchema, required=True)
    technician = technician_field()


class EnrolmentRecordSchema(ma.Schema):
    """One event of a station's enrolment history."""

    station_id = fields.String(required=True, metadata={"example": "st-lobby-a"})
    kind = fields.String(
        required=True,
        validate=validate.OneOf(["enrol", "rotate", "replace", "decommission"]),
        metadata={"example": "enrol"},
    )
    certificate_serial = fields.String(required=True)
    certificate_sha256 = fields.String(required=True)
    not_after = UtcDateTime(required=True)
    enrolled_at = UtcDateTime(required=True)
    enrolled_by = fields.String(required=True, metadata={"description": "the technician"})


class CountersSchema(ma.Schema):
    """Where a station's numbering stands on the server: a replacement continues above it."""

    station_id = fields.String(required=True, metadata={"example": "st-lobby-a"})
    petition_serial = fields.Integer(
        required=True,
        metadata={
            "description": "the highest petition serial the server applied from the station "
            "(0: none); a replacement's bundle carries it as petition_floor",
            "example": 1234,
        },
    )
    petition_serial_max = fields.Integer(
        required=True, metadata={"description": "the last serial a station id can ever mint"}
    )


class DecommissionRequestSchema(ma.Schema):
    """The certificates the CA revoked, and who decommissioned the station."""

    revoked_serials = fields.List(
        serial_field(),
        required=True,
        validate=validate.Length(min=1, max=100),
        metadata={"description": "what `dcs-provision station decommission` revoked"},
    )
    technician = technician_field()


class WipeCommandSchema(ma.Schema):
    """The ``wipe_replica`` command queued for the station (shown on the dashboard too)."""

    command_id = fields.String(required=True)
    status = fields.String(required=True, metadata={"example": "pending"})
    expires_at = UtcDateTime(
        required=True, metadata={"description": "an offline station ignores it after this"}
    )


class DecommissionSchema(ma.Schema):
    """What the server did: the certificates it marked, and the wipe it queued."""

    station_id = fields.String(required=True)
    decommissioned = fields.List(fields.Nested(EnrolmentRecordSchema), required=True)
    unknown_serials = fields.List(
        fields.String(),
        required=True,
        metadata={"description": "revoked serials never recorded here (audited only)"},
    )
    wipe = fields.Nested(WipeCommandSchema, allow_none=True, required=True)
    wipe_outcome = fields.String(
        required=True,
        validate=validate.OneOf(["queued", "no_replica", "not_sent"]),
        metadata={"description": "not_sent: the broker was unreachable (the replica is suspended)"},
    )
    message = fields.String(required=True, metadata={"description": "the outcome, for a person"})


class TokenInfoSchema(ma.Schema):
    """The token a request carries: its name and scopes (never the token itself)."""

    name = fields.String(required=True, metadata={"example": "provisioning"})
    scopes = fields.List(fields.String(), required=True)
