"""The fleet as the dashboard shows it: one row per station from what the ingest stored."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime

import peewee

from sync_server.fleet.models import Station
from sync_server.i18n import N_
from sync_server.local_time import local_time

#: ``printer_state`` gauge values (device/hardware.py PRINTER_STATES): code and label (msgid).
PRINTER_STATES = {
    0: ("ok", N_("OK")),
    1: ("paper-low", N_("Paper low")),
    2: ("paper-out", N_("Out of paper")),
    3: ("cover-open", N_("Cover open")),
    4: ("error", N_("Printer error")),
    5: ("offline", N_("Printer not answering")),
    6: ("unknown", N_("Unknown")),
}


def aware(value: datetime | None) -> datetime | None:
    """UTC-aware (PostgreSQL reads timestamps back naive; they were written as UTC)."""
    if value is None:
        return None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


@dataclass(frozen=True)
class StationRow:
    """What the fleet list and the station page show of one station."""

    station_id: str
    presence: str
    presence_at: datetime | None
    last_heartbeat_at: datetime | None
    backlog: int
    oldest_undelivered_age_s: float | None
    software_version: str | None
    transactions_applied: int
    metrics: dict[str, float]
    #: Since when the station is refused every service (per-station budgets), or ``None``.
    quarantined_at: datetime | None = None
    quarantine_reason: str | None = None
    #: "Online" but not heard from for too long (alarms.is_stale): shown offline.
    stale: bool = False

    @property
    def shown_presence(self) -> str:
        """The presence the pages show: a stale "online" station is offline."""
        return "offline" if self.stale else self.presence

    @property
    def paper(self) -> str | None:
        """The printer's state name, or ``None`` without a printer."""
        code = self.metrics.get("printer_state")
        return None if code is None else PRINTER_STATES.get(int(code), PRINTER_STATES[6])[0]

    @property
    def tamper_open(self) -> bool:
        """Whether the enclosure was open at the last heartbeat."""
        return bool(self.metrics.get("tamper_open"))

    @property
    def watchdog_resets(self) -> int | None:
        """Resets the watchdog board made, as it reported at boot."""
        value = self.metrics.get("watchdog_resets")
        return None if value is None else int(value)

    @property
    def disk_free_pct(self) -> float | None:
        """Free space on the station's data disk, in percent."""
        return self.metrics.get("disk_free_pct")

    def as_event(self) -> dict[str, object]:
        """The row as the live stream sends it (no personal data exists here)."""
        return {
            "station_id": self.station_id,
            "presence": self.shown_presence,
            "stale": self.stale,
            "last_heartbeat_at": _iso(self.last_heartbeat_at),
            # As the page writes it (deployment zone and calendar, the page's language).
            "last_heartbeat_text": local_time(self.last_heartbeat_at),
            "backlog": self.backlog,
            "oldest_undelivered_age_s": self.oldest_undelivered_age_s,
            "paper": self.paper,
            "tamper_open": self.tamper_open,
            "watchdog_resets": self.watchdog_resets,
            "disk_free_pct": self.disk_free_pct,
            "software_version": self.software_version,
            "quarantined": self.quarantined_at is not None,
        }


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def row_from_tuple(values: tuple) -> StationRow:
    """A :class:`StationRow` from the columns of :data:`COLUMNS` in order."""
    (sid, presence, presence_at, beat_at, backlog, oldest, version, applied, metrics) = values[:9]
    quarantined_at, quarantine_reason = values[9:11]
    try:
        gauges = json.loads(metrics) if metrics else {}
    except ValueError:
        gauges = {}
    return StationRow(
        sid,
        presence,
        aware(presence_at),
        aware(beat_at),
        backlog,
        oldest,
        version,
        applied,
        gauges if isinstance(gauges, dict) else {},
        aware(quarantined_at),
        quarantine_reason,
    )


COLUMNS = (
    Station.station_id,
    Station.presence,
    Station.presence_at,
    Station.last_heartbeat_at,
    Station.backlog,
    Station.oldest_undelivered_age_s,
    Station.software_version,
    Station.transactions_applied,
    Station.metrics,
    Station.quarantined_at,
    Station.quarantine_reason,
)


def _heard_since(moment: datetime) -> peewee.Expression:
    """Stations heard from (a heartbeat, else coming online) after ``moment``."""
    heard = peewee.fn.COALESCE(Station.last_heartbeat_at, Station.presence_at)
    return heard.is_null() | (heard > moment)


def stations(
    *,
    presence: str | None = None,
    search: str | None = None,
    page: int = 1,
    size: int = 50,
    stale_before: datetime | None = None,
) -> tuple[list[StationRow], int]:
    """One page of the fleet, ordered by station id, and the number of matching stations.

    With ``stale_before``, the presence filter goes by what the pages show: an "online"
    station not heard from since then is offline.
    """
    query = Station.select(*COLUMNS)
    if presence in ("online", "offline") and stale_before is not None:
        fresh = (Station.presence == "online") & _heard_since(stale_before)
        query = query.where(
            fresh if presence == "online" else ~fresh & (Station.presence != "unknown")
        )
    elif presence in ("online", "offline", "unknown"):
        query = query.where(Station.presence == presence)
    if search:
        query = query.where(Station.station_id.contains(search.strip().lower()))
    total = query.count()
    rows = query.order_by(Station.station_id).paginate(max(page, 1), size).tuples()
    return [row_from_tuple(values) for values in rows], total


def stations_by_id(station_ids: list[str]) -> list[StationRow]:
    """The stations of ``station_ids`` that exist, ordered by station id."""
    if not station_ids:
        return []
    query = Station.select(*COLUMNS).where(Station.station_id.in_(station_ids))
    return [row_from_tuple(values) for values in query.order_by(Station.station_id).tuples()]


def all_online_stale(stale_before: datetime) -> bool:
    """Whether some station says "online" and none of those was heard from since ``stale_before``.

    Nothing arrives at all then: the broker or the ingest is stuck. Two indexed lookups, not
    the whole fleet read into rows (the fleet page asks this on every render).
    """
    online = Station.select(Station.station_id).where(Station.presence == "online")
    return online.exists() and not online.where(_heard_since(stale_before)).exists()


def station(station_id: str) -> StationRow | None:
    """One station, or ``None``."""
    values = Station.select(*COLUMNS).where(Station.station_id == station_id).tuples().first()
    return row_from_tuple(values) if values else None


def counts(stale_before: datetime | None = None) -> dict[str, int]:
    """Stations by presence; "online" ones not heard from since ``stale_before`` count offline."""
    query = Station.select(Station.presence, peewee.fn.COUNT(Station.station_id)).group_by(
        Station.presence
    )
    found = {presence: count for presence, count in query.tuples()}
    if stale_before is not None:
        stale = (
            Station.select()
            .where(Station.presence == "online", ~_heard_since(stale_before))
            .count()
        )
        if stale:
            found["online"] = found.get("online", 0) - stale
            found["offline"] = found.get("offline", 0) + stale
    return found
