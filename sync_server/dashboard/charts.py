"""Transactions per hour and sync lag per hour, as server-drawn SVG (no script, no CDN).

Sync lag here is what the server measured: the time from a transaction's creation on the
station to its arrival (``received_at - station_time``), averaged per hour. It includes any
error in the station's clock, which the chart's caption says.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from html import escape
from typing import Any

import peewee
from markupsafe import Markup

from contract.local_time import LocalTime, format_moment, to_local
from sync_server.db import database, utc_now
from sync_server.ingest.models import AppliedTransaction


@dataclass(frozen=True)
class HourlyPoint:
    """One hour of one series."""

    hour: datetime
    transactions: int
    mean_lag_s: float


def _expressions() -> tuple[str, str]:
    if isinstance(database.obj, peewee.PostgresqlDatabase):
        return (
            "date_trunc('hour', received_at)",
            "avg(extract(epoch from (received_at - station_time)))",
        )
    return (
        "strftime('%Y-%m-%d %H:00:00', received_at)",
        "avg((julianday(received_at) - julianday(station_time)) * 86400.0)",
    )


def hourly(
    station_id: str | None = None, hours: int = 24, now: datetime | None = None
) -> list[HourlyPoint]:
    """The last ``hours`` hours, oldest first, empty hours included."""
    now = (now or utc_now()).astimezone(UTC)
    end = now.replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)
    start = end - timedelta(hours=hours)
    bucket, lag = _expressions()
    where = "received_at >= %s AND received_at < %s"
    params: list[object] = [start, end]
    if station_id is not None:
        where += " AND station_id = %s"
        params.append(station_id)
    # Only constants are interpolated; the times and the station id are parameters.
    table = AppliedTransaction._meta.table_name
    sql = f"SELECT {bucket} AS hour, count(*), {lag} FROM {table} WHERE {where} GROUP BY hour"  # noqa: S608
    if not isinstance(database.obj, peewee.PostgresqlDatabase):
        sql = sql.replace("%s", "?")
        params = [p.isoformat(sep=" ") if isinstance(p, datetime) else p for p in params]
    found: dict[datetime, tuple[int, float]] = {}
    for hour, count, mean_lag in database.execute_sql(sql, params).fetchall():
        key = hour if isinstance(hour, datetime) else datetime.fromisoformat(str(hour))
        key = key.replace(tzinfo=UTC) if key.tzinfo is None else key.astimezone(UTC)
        found[key] = (int(count), float(mean_lag or 0.0))
    points = []
    for offset in range(hours):
        hour = start + timedelta(hours=offset)
        count, mean_lag = found.get(hour, (0, 0.0))
        points.append(HourlyPoint(hour, count, mean_lag))
    return points


def axis_top(peak: float) -> float:
    """The axis's top: the next 1, 2 or 5 × 10ⁿ at or above ``peak`` (1 for an empty chart)."""
    if peak <= 0:
        return 1.0
    magnitude = 10 ** math.floor(math.log10(peak))
    return next(m * magnitude for m in (1, 2, 5, 10) if m * magnitude >= peak * (1 - 1e-9))


def axis_label(value: float) -> str:
    """A tick's number with the decimals small values need: ``0.5``, ``2.5``, ``1,000``.

    Whole numbers drop their decimals; a sub-second lag must not read ``0`` like the bottom.
    """
    if value == int(value):
        return f"{value:,.0f}"
    return f"{value:,.2f}".rstrip("0").rstrip(".")


def bar_chart(
    points: Sequence[Any],
    value: str,
    *,
    title: str,
    unit: str,
    color: str = "#0b5394",
    local: LocalTime | None = None,
    language: str = "en",
) -> Markup:
    """An SVG bar chart of one field of ``points``: hourly points with an ``hour``, such as
    :class:`HourlyPoint` (``transactions``, ``mean_lag_s``) or the heartbeat history's
    (``sync_server/fleet/history.py``: ``backlog_max``, ``disk_free_min``...).

    Hours read in ``local`` (the deployment's zone and calendar; hours are counted in UTC,
    which is the same hours in Thailand's and Vietnam's whole-hour offsets)."""
    local = local or LocalTime()
    width, height, left, bottom = 720, 180, 48, 24
    values = [float(getattr(p, value)) for p in points]
    peak = axis_top(max(values, default=0.0))
    step = (width - left) / max(len(points), 1)
    bars = []
    for index, (point, amount) in enumerate(zip(points, values, strict=True)):
        bar_height = (height - bottom - 10) * amount / peak
        x = left + index * step
        y = height - bottom - bar_height
        label = f"{format_moment(point.hour, local, language)} — {amount:,.0f} {unit}"
        bars.append(
            f'<rect x="{x + 1:.1f}" y="{y:.1f}" width="{max(step - 2, 1):.1f}" '
            f'height="{bar_height:.1f}" fill="{color}"><title>{escape(label)}</title></rect>'
        )
        if index % 3 == 0:
            bars.append(
                f'<text x="{x + step / 2:.1f}" y="{height - 6}" font-size="11" '
                f'text-anchor="middle" fill="#5b6478">{to_local(point.hour, local):%H}</text>'
            )
    middle = (height - bottom + 10) / 2
    axis = (
        f'<text x="{left - 6}" y="14" font-size="11" text-anchor="end" fill="#5b6478" '
        f'class="axis">{axis_label(peak)} {escape(unit)}</text>'
        f'<text x="{left - 6}" y="{middle:.0f}" font-size="11" text-anchor="end" '
        f'fill="#5b6478" class="axis">{axis_label(peak / 2)}</text>'
        f'<text x="{left - 6}" y="{height - bottom}" font-size="11" text-anchor="end" '
        f'fill="#5b6478" class="axis">0</text>'
        f'<line x1="{left}" y1="{height - bottom}" x2="{width}" y2="{height - bottom}" '
        f'stroke="#d8dde6"/>'
    )
    # Every text in the SVG went through escape(); the rest are numbers.
    return Markup(  # noqa: S704
        f'<svg class="chart" viewBox="0 0 {width} {height}" role="img" '
        f'aria-label="{escape(title)}"><title>{escape(title)}</title>{axis}{"".join(bars)}</svg>'
    )
