"""Maintenance windows: a station (or a building's stations) whose alarms tell nobody.

Created from the dashboard (operations) or the API (``maintenance:write``); the alarms
still open and show on the dashboard, only their notifications are held back.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from sync_server.db import utc_now, write_transaction
from sync_server.notifications.models import MaintenanceWindow
from sync_server.replicas.models import StationReplica

#: A longer window is refused: a forgotten one would silence a station for good.
MAX_LENGTH = timedelta(days=31)


#: Control characters other than tab and line breaks.
CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


class MaintenanceError(ValueError):
    """A window that cannot be created (no subject, or it ends before it starts)."""


def create(
    *,
    station_id: str | None,
    building: str | None,
    starts_at: datetime,
    ends_at: datetime,
    reason: str,
    by: str,
) -> MaintenanceWindow:
    """A new window for one station or one building (exactly one of them)."""
    station_id = (station_id or "").strip() or None
    building = (building or "").strip() or None
    if (station_id is None) == (building is None):
        raise MaintenanceError("name a station or a building, not both")
    starts_at, ends_at = _aware(starts_at), _aware(ends_at)
    if ends_at < starts_at:
        raise MaintenanceError("the window must not end before it starts")
    if ends_at - starts_at > MAX_LENGTH:
        raise MaintenanceError(f"a window lasts at most {MAX_LENGTH.days} days")
    if not reason.strip():
        raise MaintenanceError("say why (the reason is shown with the window)")
    if CONTROL.search(reason):
        # PostgreSQL refuses NUL in text, and no reason a person types holds the others.
        raise MaintenanceError("the reason cannot hold control characters")
    with write_transaction():
        return MaintenanceWindow.create(
            station_id=station_id,
            building=building,
            starts_at=starts_at,
            ends_at=ends_at,
            reason=reason.strip()[:200],
            created_by=by[:64],
        )


def end(window_id: int, now: datetime | None = None) -> MaintenanceWindow | None:
    """End a window now (or drop a future one: it ends when it starts); None when unknown."""
    now = now or utc_now()
    with write_transaction():
        window = MaintenanceWindow.get_or_none(MaintenanceWindow.id == window_id)
        if window is None:
            return None
        starts_at = _aware(window.starts_at)
        window.ends_at = max(now, starts_at) if starts_at <= now else starts_at
        window.save()
    return window


def current_and_future(now: datetime | None = None) -> list[MaintenanceWindow]:
    """Windows that have not ended, soonest first."""
    now = now or utc_now()
    query = MaintenanceWindow.select().where(MaintenanceWindow.ends_at > now)
    return list(query.order_by(MaintenanceWindow.starts_at, MaintenanceWindow.id))


def silencing(station_id: str, now: datetime) -> MaintenanceWindow | None:
    """The window that silences ``station_id`` at ``now``, if any."""
    building = (
        StationReplica.select(StationReplica.building)
        .where(StationReplica.station_id == station_id)
        .scalar()
    )
    subject = MaintenanceWindow.station_id == station_id
    if building is not None:
        subject |= MaintenanceWindow.building == building
    return (
        MaintenanceWindow.select()
        .where(subject, MaintenanceWindow.starts_at <= now, MaintenanceWindow.ends_at > now)
        .order_by(MaintenanceWindow.ends_at.desc())
        .first()
    )


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=UTC)
