"""Prometheus metrics at ``/metrics``, computed from the database at scrape time.

Why from the database and not from in-process counters: the transactions are applied by the
ingest workers, which are separate processes (possibly on other machines), and the web app
runs as several gunicorn workers. prometheus_client's multiprocess mode would need every
process on one host sharing one directory, and its counters would restart with the
processes. The database already holds the exact figures — ``Station.transactions_applied``
is incremented in the same transaction that applies each one, and every rejection is a
``RejectedMessage`` row — so a custom collector reads them on each scrape: any web worker
answers with the same numbers, whatever ran the ingest. The cost is a few aggregate queries
per scrape (one row per station, not per transaction).

The endpoint needs a token with the scope ``metrics:read`` (Prometheus:
``authorization: {credentials_file: ...}``); loopback is not trusted on its own, because
behind a reverse proxy on the same host every request comes from loopback.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime

import peewee
from flask import Blueprint, Flask, Response, current_app
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from sync_server.api.auth import require_scope
from sync_server.api.errors import json_errors
from sync_server.db import utc_now
from sync_server.fleet.models import Station
from sync_server.ingest.models import RejectedMessage
from sync_server.petitions import service as petition_service

PRESENCES = ("online", "offline", "unknown")
#: A device gauge from the heartbeat that is exported per station (paper, tamper, watchdog).
DEVICE_GAUGES = {
    "printer_state": "printer state from the last heartbeat (0 ok, 1 paper low, 2 paper out...)",
    "tamper_open": "1 when the enclosure's tamper switch is open",
    "watchdog_resets": "resets the hardware watchdog has made",
}


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=UTC)


class FleetCollector(Collector):
    """Fleet and ingest figures read from the server database on each scrape.

    ``per_station=False`` leaves out the per-station series (six per station that has sent a
    heartbeat) for fleets too large for them; the fleet-wide figures stay.
    """

    def __init__(self, *, per_station: bool = True) -> None:
        self.per_station = per_station

    def collect(self) -> Iterator[Metric]:
        """The metric families (see docs/api.md for the list)."""
        up = GaugeMetricFamily("dcs_database_up", "1 when the scrape could read the database")
        try:
            families = list(self._families(utc_now()))
        except peewee.DatabaseError:
            up.add_metric([], 0)
            yield up
            return
        up.add_metric([], 1)
        yield up
        yield from families

    def _families(self, now: datetime) -> Iterator[Metric]:
        stations = list(
            Station.select(
                Station.station_id,
                Station.presence,
                Station.backlog,
                Station.oldest_undelivered_age_s,
                Station.last_heartbeat_at,
                Station.transactions_applied,
                Station.metrics,
            ).order_by(Station.station_id)
        )
        applied = CounterMetricFamily(
            "dcs_transactions_applied",
            "Transactions applied by the ingest workers (rate() of it is the ingest rate)",
        )
        applied.add_metric([], sum(s.transactions_applied for s in stations))
        yield applied

        rejected = CounterMetricFamily(
            "dcs_rejected_messages", "Messages the ingest refused (recorded by size and hash)"
        )
        rejected.add_metric([], RejectedMessage.select().count())
        yield rejected

        petitions = GaugeMetricFamily("dcs_petitions", "Petitions by status", labels=["status"])
        for status, count in petition_service.counts_by_status().items():
            petitions.add_metric([status], count)
        yield petitions

        by_presence = GaugeMetricFamily(
            "dcs_stations",
            "Stations by presence (online from the retained presence)",
            labels=["presence"],
        )
        for presence in PRESENCES:
            by_presence.add_metric([presence], sum(s.presence == presence for s in stations))
        yield by_presence

        from sync_server.dashboard.models import Alarm, CommandRecord

        open_alarms = GaugeMetricFamily(
            "dcs_alarms_open", "Open alarms by rule and severity", labels=["rule", "severity"]
        )
        for rule, severity, count in (
            Alarm.select(Alarm.rule, Alarm.severity, peewee.fn.COUNT(Alarm.id))
            .where(Alarm.cleared_at.is_null())
            .group_by(Alarm.rule, Alarm.severity)
            .tuples()
        ):
            open_alarms.add_metric([rule, severity], count)
        yield open_alarms
        pending = GaugeMetricFamily("dcs_commands", "Remote commands by state", labels=["status"])
        for status, count in (
            CommandRecord.select(CommandRecord.status, peewee.fn.COUNT(CommandRecord.command_id))
            .group_by(CommandRecord.status)
            .tuples()
        ):
            pending.add_metric([status], count)
        yield pending

        yield from self._ops(now)

        reported = [s for s in stations if s.last_heartbeat_at is not None]
        worst = GaugeMetricFamily(
            "dcs_sync_lag_max_seconds", "The largest station sync lag in the fleet"
        )
        worst.add_metric([], max((s.oldest_undelivered_age_s or 0.0 for s in reported), default=0))
        yield worst
        total_backlog = GaugeMetricFamily(
            "dcs_outbox_backlog", "Unacked transactions in every station's outbox, added up"
        )
        total_backlog.add_metric([], sum(s.backlog for s in reported))
        yield total_backlog
        if self.per_station:
            yield from self._per_station(reported, now)

    def _ops(self, now: datetime) -> Iterator[Metric]:
        """The workers' heartbeats (readiness) and the notifications by channel and state."""
        from sync_server.notifications.models import Notification
        from sync_server.ops.models import WorkerHeartbeat

        beats = GaugeMetricFamily(
            "dcs_worker_heartbeat_age_seconds",
            "Seconds since each server worker last recorded its heartbeat",
            labels=["worker", "kind"],
        )
        for worker, kind, beat_at in (
            WorkerHeartbeat.select(
                WorkerHeartbeat.worker, WorkerHeartbeat.kind, WorkerHeartbeat.beat_at
            )
            .order_by(WorkerHeartbeat.worker)
            .tuples()
        ):
            beats.add_metric([worker, kind], max(0.0, (now - _aware(beat_at)).total_seconds()))
        yield beats
        notifications = GaugeMetricFamily(
            "dcs_notifications",
            "Alarm notifications by channel and state (pending, sent, failed, suppressed, sms)",
            labels=["channel", "state"],
        )
        for channel, state, count in (
            Notification.select(
                Notification.channel, Notification.state, peewee.fn.COUNT(Notification.id)
            )
            .group_by(Notification.channel, Notification.state)
            .tuples()
        ):
            notifications.add_metric([channel, state], count)
        yield notifications

    def _per_station(self, stations: list[Station], now: datetime) -> Iterator[Metric]:
        """Series per station that has sent a heartbeat (no figure beats a made-up zero)."""
        lag = GaugeMetricFamily(
            "dcs_station_sync_lag_seconds",
            "Age of the station's oldest unacked transaction at its last heartbeat (0: none)",
            labels=["station_id"],
        )
        backlog = GaugeMetricFamily(
            "dcs_station_outbox_backlog",
            "Transactions in the station's outbox not yet acked, at its last heartbeat",
            labels=["station_id"],
        )
        heartbeat_age = GaugeMetricFamily(
            "dcs_station_heartbeat_age_seconds",
            "Seconds since the station's last heartbeat reached the server",
            labels=["station_id"],
        )
        devices = {
            name: GaugeMetricFamily(f"dcs_station_{name}", doc, labels=["station_id"])
            for name, doc in DEVICE_GAUGES.items()
        }
        for station in stations:
            label = [station.station_id]
            lag.add_metric(label, station.oldest_undelivered_age_s or 0.0)
            backlog.add_metric(label, station.backlog)
            heartbeat_age.add_metric(
                label, max(0.0, (now - _aware(station.last_heartbeat_at)).total_seconds())
            )
            gauges = json.loads(station.metrics) if station.metrics else {}
            for name, family in devices.items():
                if isinstance(gauges.get(name), int | float):
                    family.add_metric(label, float(gauges[name]))
        yield from (lag, backlog, heartbeat_age, *devices.values())


def build_registry(*, per_station: bool = True) -> CollectorRegistry:
    """A registry with only the fleet collector (no per-process metrics of one web worker)."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(FleetCollector(per_station=per_station))
    return registry


bp = Blueprint("metrics", __name__)
json_errors(bp)  # JSON whatever handlers the pages add


def init_app(app: Flask) -> None:
    """Serve ``/metrics`` for ``app`` (``METRICS_PER_STATION`` decides the per-station series)."""
    app.extensions["dcs-metrics"] = build_registry(
        per_station=bool(app.config.get("METRICS_PER_STATION", True))
    )
    app.register_blueprint(bp)


@bp.get("/metrics")
@require_scope("metrics:read")
def metrics() -> Response:
    """The Prometheus text exposition."""
    registry = current_app.extensions["dcs-metrics"]
    return Response(generate_latest(registry), content_type=CONTENT_TYPE_LATEST)
