"""When, by whom and with which certificate each station was enrolled (issue 7)."""

from __future__ import annotations

from sync_server.audit import audit
from sync_server.db import write_transaction
from sync_server.fleet.models import Enrollment


def record_enrollment(
    station_id: str,
    *,
    serial: str,
    sha256: str,
    not_after: object,
    by: str,
    kind: str = "enrol",
) -> Enrollment:
    """Store one enrolment event and audit it."""
    with write_transaction():
        entry = Enrollment.create(
            station_id=station_id,
            certificate_serial=serial,
            certificate_sha256=sha256,
            not_after=not_after,
            enrolled_by=by[:64],
            kind=kind,
        )
        audit(by, f"station.{kind}", station_id, "ok")
    return entry


def history(station_id: str) -> list[Enrollment]:
    """A station's enrolments, newest first."""
    return list(
        Enrollment.select()
        .where(Enrollment.station_id == station_id)
        .order_by(Enrollment.id.desc())
    )
