"""The API's request, response and argument schemas (marshmallow); the OpenAPI document is
built from them.

Nothing here carries personal data: no phone, citizen id, name, form content or comment.
Every rule a request must follow is in its schema (a pattern, a length), so the document
promises exactly what the server accepts.
"""

from __future__ import annotations

import marshmallow as ma
from marshmallow import fields, validate

from contract.topics import STATION_ID_PATTERN
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


#: ``station:<station id>`` or ``building:<building>``.
MAINTENANCE_SUBJECT = (
    r"^(station:" + STATION_ID_PATTERN.strip("^$") + r"|building:[A-Za-z0-9][A-Za-z0-9 ._-]{0,63})$"
)


class MaintenanceWindowRequestSchema(ma.Schema):
    """A new window for one station or one building, from ``starts_at`` for ``minutes``."""

    subject = fields.String(
        required=True,
        validate=WholeMatch(MAINTENANCE_SUBJECT),
        metadata={
            "description": "`station:<station id>`, or `building:<building>` for every station "
            "enrolled for that building's replica",
            "example": "station:st-lobby-a",
        },
    )
    starts_at = UtcInput(metadata={"description": "default: now"})
    minutes = fields.Integer(
        required=True,
        validate=validate.Range(min=1, max=31 * 24 * 60),
        metadata={"description": "how long it lasts: at most 31 days", "example": 120},
    )
    reason = fields.String(
        required=True,
        validate=[
            validate.Length(min=1, max=200),
            # Something to read, and no control characters but tab and line breaks.
            WholeMatch(
                r"^[^\x00-\x08\x0b\x0c\x0e-\x1f\x7f]*[^\s\x00-\x08\x0e-\x1f\x7f]"
                r"[^\x00-\x08\x0b\x0c\x0e-\x1f\x7f]*$"
            ),
        ],
        metadata={"example": "printer replaced"},
    )


class MaintenanceWindowSchema(ma.Schema):
    """A maintenance window."""

    id = fields.Integer(required=True)
    station_id = fields.String(allow_none=True, required=True)
    building = fields.String(allow_none=True, required=True)
    starts_at = UtcDateTime(required=True)
    ends_at = UtcDateTime(required=True)
    reason = fields.String(required=True)
    created_by = fields.String(required=True)


class MaintenanceWindowListSchema(ma.Schema):
    windows = fields.List(fields.Nested(MaintenanceWindowSchema), required=True)


# --- rollouts (sync_server/rollouts) --------------------------------------------------------


class RolloutJobSchema(ma.Schema):
    """One station's job in a rollout (its state as the station last reported it)."""

    station_id = fields.String(required=True)
    state = fields.String(required=True, metadata={"example": "committed"})
    reason = fields.String(allow_none=True, required=True)
    version = fields.String(allow_none=True, required=True)
    sent_at = UtcDateTime(allow_none=True, required=True)
    times_sent = fields.Integer(required=True)
    rollback_state = fields.String(allow_none=True, required=True)


class RolloutWaveSchema(ma.Schema):
    number = fields.Integer(required=True)
    state = fields.String(required=True, metadata={"example": "running"})
    started_at = UtcDateTime(allow_none=True, required=True)
    finished_at = UtcDateTime(allow_none=True, required=True)
    jobs = fields.List(fields.Nested(RolloutJobSchema), required=True)


class RolloutSchema(ma.Schema):
    """A rollout with its figures."""

    rollout_id = fields.String(required=True)
    kind = fields.String(required=True, metadata={"example": "release"})
    release = fields.String(allow_none=True, required=True, metadata={"example": "0.2.0"})
    config_label = fields.String(allow_none=True, required=True)
    target = fields.Dict(required=True, metadata={"example": {"kind": "percent", "percent": 10}})
    state = fields.String(required=True, metadata={"example": "running"})
    reason = fields.String(allow_none=True, required=True)
    success_pct = fields.Float(required=True)
    abort_pct = fields.Float(required=True)
    min_executed = fields.Integer(required=True)
    deadline = UtcDateTime(required=True)
    created_at = UtcDateTime(required=True)
    created_by = fields.String(required=True)
    figures = fields.Dict(keys=fields.String(), values=fields.Integer(), required=True)


class RolloutDetailSchema(RolloutSchema):
    waves = fields.List(fields.Nested(RolloutWaveSchema), required=True)


class RolloutListSchema(ma.Schema):
    rollouts = fields.List(fields.Nested(RolloutSchema), required=True)


class RolloutTargetSchema(ma.Schema):
    kind = fields.String(
        required=True, validate=validate.OneOf(["all", "buildings", "percent", "stations"])
    )
    buildings = fields.List(
        fields.String(validate=validate.Length(1, 64)), validate=validate.Length(max=500)
    )
    percent = fields.Float(validate=validate.Range(min=0.01, max=100))
    stations = fields.List(
        fields.String(validate=validate.Length(3, 32)), validate=validate.Length(max=10_000)
    )


class RolloutConfigSchema(ma.Schema):
    label = fields.String(required=True, validate=validate.Regexp(r"^[A-Za-z0-9._-]{1,64}$"))
    settings = fields.Dict(
        keys=fields.String(),
        required=True,
        metadata={"description": "allowlisted keys only (docs/updates.md)"},
    )


class RolloutCreateSchema(ma.Schema):
    """A new rollout: ``release`` (a registered version) or ``config``, never both."""

    release = fields.String(validate=validate.Length(1, 64))
    config = fields.Nested(RolloutConfigSchema)
    target = fields.Nested(RolloutTargetSchema, required=True)
    waves = fields.List(
        fields.Integer(validate=validate.Range(min=1)),
        required=True,
        validate=validate.Length(1, 50),
    )
    success_pct = fields.Float(load_default=100.0, validate=validate.Range(min=0.01, max=100))
    abort_pct = fields.Float(load_default=0.0, validate=validate.Range(min=0, max=99.99))
    min_executed = fields.Integer(load_default=1, validate=validate.Range(min=1))
    deadline_hours = fields.Float(load_default=72.0, validate=validate.Range(min=0.1, max=24 * 90))


class RolloutAbortSchema(ma.Schema):
    reason = fields.String(load_default="aborted through the API", validate=validate.Length(1, 200))
