"""When, by whom and with which certificate each station was enrolled (issue 7).

``by`` is the person on site (the technician); ``actor`` is who the audit trail names: the
API token that recorded the event, or the person when they recorded it themselves.
"""

from __future__ import annotations

from sync_server.audit import audit
from sync_server.db import write_transaction
from sync_server.fleet.models import Enrollment

#: The kinds that put a certificate on a station (a decommission takes it off); ``replace``
#: is a new SD card for a station id already in service (its numbering goes on).
CERTIFICATE_KINDS = ("enrol", "rotate", "replace")


def record_enrollment(
    station_id: str,
    *,
    serial: str,
    sha256: str,
    not_after: object,
    by: str,
    kind: str = "enrol",
    actor: str | None = None,
) -> Enrollment:
    """Store one enrolment event and audit it (as ``actor``, else as ``by``)."""
    with write_transaction():
        entry = Enrollment.create(
            station_id=station_id,
            certificate_serial=serial,
            certificate_sha256=sha256,
            not_after=not_after,
            enrolled_by=by[:64],
            kind=kind,
        )
        audit(actor or by, f"station.{kind}", station_id, "ok")
    return entry


def record_once(
    station_id: str,
    *,
    serial: str,
    sha256: str,
    not_after: object,
    by: str,
    kind: str,
    actor: str,
) -> tuple[Enrollment, bool]:
    """Record the event unless the same one (station, certificate, kind) is on record.

    So a retried request records nothing twice: it gets the first record and ``False``.
    """
    with write_transaction():
        earlier = _recorded(station_id, serial, (kind,))
        if earlier is not None:
            return earlier, False
        entry = record_enrollment(
            station_id,
            serial=serial,
            sha256=sha256,
            not_after=not_after,
            by=by,
            kind=kind,
            actor=actor,
        )
        return entry, True


def is_enrolled(station_id: str) -> bool:
    """Whether any enrolment (or replacement) of the station is on record."""
    return (
        Enrollment.select()
        .where((Enrollment.station_id == station_id) & Enrollment.kind.in_(("enrol", "replace")))
        .exists()
    )


def record_decommission(
    station_id: str, serials: list[str], *, by: str, actor: str
) -> tuple[list[Enrollment], list[str]]:
    """Mark each revoked certificate of the station decommissioned (once each).

    The fingerprint and expiry come from the certificate's enrolment or rotation on record;
    returns the decommission records and the serials the server never recorded (those are
    only audited).
    """
    marked: list[Enrollment] = []
    unknown: list[str] = []
    with write_transaction():
        for serial in dict.fromkeys(serials):  # each once, in the order given
            known = _recorded(station_id, serial, CERTIFICATE_KINDS)
            if known is None:
                unknown.append(serial)
                continue
            entry, _ = record_once(
                station_id,
                serial=serial,
                sha256=known.certificate_sha256,
                not_after=known.not_after,
                by=by,
                kind="decommission",
                actor=actor,
            )
            marked.append(entry)
        if unknown:
            audit(actor, "station.decommission", station_id, f"{len(unknown)} not on record")
    return marked, unknown


def _recorded(station_id: str, serial: str, kinds: tuple[str, ...]) -> Enrollment | None:
    return (
        Enrollment.select()
        .where(
            (Enrollment.station_id == station_id)
            & (Enrollment.certificate_serial == serial)
            & Enrollment.kind.in_(kinds)
        )
        .order_by(Enrollment.id)
        .first()
    )


def history(station_id: str) -> list[Enrollment]:
    """A station's enrolments, newest first."""
    return list(
        Enrollment.select()
        .where(Enrollment.station_id == station_id)
        .order_by(Enrollment.id.desc())
    )
