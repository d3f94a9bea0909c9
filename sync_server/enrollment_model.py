"""The Enrollment table (imported through ``sync_server.models``; use sync_server.enrollments)."""

from __future__ import annotations

import peewee

from sync_server.models import BaseModel, utc_now


class Enrollment(BaseModel):
    """One enrolment (or certificate rotation) of a station."""

    id = peewee.AutoField()
    station_id = peewee.CharField(max_length=32, index=True)
    certificate_serial = peewee.CharField(max_length=64)
    certificate_sha256 = peewee.CharField(max_length=64)
    not_after = peewee.DateTimeField()
    enrolled_at = peewee.DateTimeField(default=utc_now)
    enrolled_by = peewee.CharField(max_length=64)
    kind = peewee.CharField(max_length=16, default="enrol")  # enrol | rotate | decommission


ENROLLMENT_MODELS = [Enrollment]
