"""The stations' heartbeat history, for the station page's charts.

The ingest keeps the last heartbeat of each station in each ``BUCKET_S`` slot (an upsert on
``(station_id, bucket_at)``: one row per station per five minutes, whatever the heartbeat
interval) with the gauges people chart: backlog and sync lag, paper, disk, tamper and the
software version. The alarm worker drops rows older than ``HEARTBEAT_HISTORY_DAYS``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from peewee import EXCLUDED

from contract import Heartbeat
from sync_server.db import utc_now, write_transaction
from sync_server.fleet.models import HeartbeatSample

BUCKET_S = 300
DEFAULT_RETENTION_DAYS = 30.0
#: printer_state (device/hardware.py PRINTER_STATES) of a printer out of paper.
PAPER_OUT = 2


def bucket_of(moment: datetime) -> datetime:
    """The start of ``moment``'s slot."""
    moment = moment.astimezone(UTC)
    seconds = int(moment.timestamp()) // BUCKET_S * BUCKET_S
    return datetime.fromtimestamp(seconds, UTC)


def _gauge(metrics: dict[str, float], name: str) -> float | None:
    value = metrics.get(name)
    return float(value) if isinstance(value, int | float) else None


def _values(beat: Heartbeat, received_at: datetime) -> dict[str, object]:
    printer = _gauge(beat.metrics, "printer_state")
    tamper = _gauge(beat.metrics, "tamper_open")
    return {
        "received_at": received_at,
        "backlog": beat.backlog,
        "oldest_undelivered_age_s": beat.oldest_undelivered_age_s,
        "printer_state": None if printer is None else int(printer),
        "disk_free_pct": _gauge(beat.metrics, "disk_free_pct"),
        "tamper_open": None if tamper is None else bool(tamper),
        "software_version": (beat.software_version or None) and beat.software_version[:64],
    }


def record_many(beats: list[tuple[str, Heartbeat, datetime]], chunk: int = 500) -> None:
    """Keep each beat as its station's sample of its slot, in multi-row upserts (in the
    caller's transaction). At most one beat per station and slot: a statement cannot
    update the row it inserts."""
    rows = [
        {"station_id": station_id, "bucket_at": bucket_of(at), **_values(beat, at)}
        for station_id, beat, at in beats
    ]
    columns = [name for name in rows[0] if name not in ("station_id", "bucket_at")] if rows else []
    for start in range(0, len(rows), chunk):
        HeartbeatSample.insert_many(rows[start : start + chunk]).on_conflict(
            conflict_target=[HeartbeatSample.station_id, HeartbeatSample.bucket_at],
            update={getattr(HeartbeatSample, name): getattr(EXCLUDED, name) for name in columns},
        ).execute()


def purge(now: datetime, days: float = DEFAULT_RETENTION_DAYS) -> int:
    """Drop the samples older than ``days``; how many went."""
    with write_transaction():
        return (
            HeartbeatSample.delete()
            .where(HeartbeatSample.bucket_at < now - timedelta(days=days))
            .execute()
        )


@dataclass(frozen=True)
class HistoryPoint:
    """One hour of a station's heartbeats (``hour`` as the charts expect)."""

    hour: datetime
    samples: int
    backlog_max: int
    disk_free_min: float
    paper_out_pct: float
    tamper_open_pct: float


@dataclass(frozen=True)
class VersionSeen:
    """A software version the station reported, and when."""

    version: str
    first_at: datetime
    last_at: datetime


def _aware(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def samples(station_id: str, since: datetime) -> list[HeartbeatSample]:
    """The station's samples from ``since`` on, oldest first."""
    return list(
        HeartbeatSample.select()
        .where(HeartbeatSample.station_id == station_id, HeartbeatSample.bucket_at >= since)
        .order_by(HeartbeatSample.bucket_at)
    )


def hourly(station_id: str, hours: int = 24, now: datetime | None = None) -> list[HistoryPoint]:
    """The last ``hours`` hours, oldest first, empty hours included (all zero)."""
    now = (now or utc_now()).astimezone(UTC)
    end = now.replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)
    start = end - timedelta(hours=hours)
    by_hour: dict[datetime, list[HeartbeatSample]] = {}
    for sample in samples(station_id, start):
        hour = _aware(sample.bucket_at).replace(minute=0, second=0, microsecond=0)
        by_hour.setdefault(hour, []).append(sample)
    points = []
    for offset in range(hours):
        hour = start + timedelta(hours=offset)
        rows = by_hour.get(hour, [])
        count = len(rows)
        disks = [r.disk_free_pct for r in rows if r.disk_free_pct is not None]
        points.append(
            HistoryPoint(
                hour=hour,
                samples=count,
                backlog_max=max((r.backlog for r in rows), default=0),
                disk_free_min=min(disks, default=0.0),
                paper_out_pct=100.0 * sum(r.printer_state == PAPER_OUT for r in rows) / count
                if count
                else 0.0,
                tamper_open_pct=100.0 * sum(bool(r.tamper_open) for r in rows) / count
                if count
                else 0.0,
            )
        )
    return points


def versions(station_id: str) -> list[VersionSeen]:
    """The versions in the kept history, newest first."""
    seen: dict[str, VersionSeen] = {}
    for sample in samples(station_id, datetime(1970, 1, 1, tzinfo=UTC)):
        if not sample.software_version:
            continue
        at = _aware(sample.bucket_at)
        known = seen.get(sample.software_version)
        first = known.first_at if known else at
        seen[sample.software_version] = VersionSeen(sample.software_version, first, at)
    return sorted(seen.values(), key=lambda v: v.last_at, reverse=True)
