"""Quarantined stations: refused every service until an operator lifts the quarantine.

A station is put in quarantine by the per-station budgets (``sync_server/budgets``) when it
keeps asking past them: the likeliest cause is a stolen station certificate used as an
oracle. Lifting is a person's decision (dashboard station page or ``dcs-server station
lift-quarantine``), audited with their name.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sync_server.audit import audit
from sync_server.db import utc_now, write_transaction
from sync_server.fleet.models import Station

#: Who the audit trail names when the server itself quarantines a station.
SERVER_ACTOR = "server:budgets"


@dataclass(frozen=True)
class Quarantine:
    """Since when and why a station is quarantined."""

    since: datetime
    reason: str


def quarantine_of(station_id: str) -> Quarantine | None:
    """The station's quarantine, or ``None`` when it may be served."""
    row = (
        Station.select(Station.quarantined_at, Station.quarantine_reason)
        .where(Station.station_id == station_id, Station.quarantined_at.is_null(False))
        .tuples()
        .first()
    )
    return Quarantine(row[0], row[1] or "") if row else None


def quarantine(station_id: str, reason: str) -> bool:
    """Quarantine the station (creating its row if the ingest never saw it).

    Returns ``True`` when it was not quarantined before; a station already in quarantine
    keeps its first time and reason.
    """
    now = utc_now()
    with write_transaction():
        Station.insert(station_id=station_id).on_conflict_ignore().execute()
        changed = (
            Station.update(quarantined_at=now, quarantine_reason=reason[:200])
            .where(Station.station_id == station_id, Station.quarantined_at.is_null())
            .execute()
        )
        if changed:
            audit(SERVER_ACTOR, "station.quarantine", station_id, "quarantined")
    return bool(changed)


def lift(station_id: str, actor: str) -> bool:
    """Lift the station's quarantine as ``actor`` (audited); ``False`` if there was none."""
    with write_transaction():
        changed = (
            Station.update(quarantined_at=None, quarantine_reason=None)
            .where(Station.station_id == station_id, Station.quarantined_at.is_null(False))
            .execute()
        )
        audit(actor, "station.quarantine_lift", station_id, "lifted" if changed else "none")
    return bool(changed)
