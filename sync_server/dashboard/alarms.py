"""Alarm rules over the fleet: raise when a condition starts, clear when it ends.

Evaluated by ``dcs-server alarms`` (a loop) with an injectable clock, so "offline longer than
N minutes" is raised even when no message arrives. One open alarm per station and rule.
Thresholds come from the server config (``ALARM_*``).

Two rules come from the per-station budgets (``sync_server/budgets``): ``quarantine`` holds
while the station is quarantined (raised at once by the budgets, cleared by this loop once an
operator lifts it); ``budget`` is an *event* (the station was refused for asking past a
budget): :func:`raise_event` opens it and only a person clears it, since no station state
says when it "ends".
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from sync_server.dashboard.fleet import COLUMNS, StationRow, row_from_tuple
from sync_server.dashboard.models import Alarm
from sync_server.db import utc_now, write_transaction
from sync_server.fleet.models import Station
from sync_server.notifications.dispatch import notify_alarm

DEFAULT_THRESHOLDS: dict[str, float] = {
    "ALARM_OFFLINE_AFTER_S": 600.0,
    "ALARM_SILENT_AFTER_S": 900.0,  # no heartbeat although "online": a hung station
    # Staleness: a station "online" whose last heartbeat is older than this many of its
    # heartbeat intervals (device/config.py heartbeat_interval_s) is shown offline and raises
    # the offline alarm. Its last will cannot say so when the broker itself is down or frozen.
    "STATION_HEARTBEAT_INTERVAL_S": 30.0,
    "ALARM_STALE_HEARTBEATS": 3.0,
    # The broker (sync_server/dashboard/broker.py): how long a probe waits for an answer.
    "BROKER_PROBE_TIMEOUT_S": 5.0,
    "ALARM_BACKLOG": 1000.0,
    "ALARM_LAG_S": 1800.0,
    "ALARM_DISK_FREE_PCT": 10.0,
    # Certificates and the CRL (sync_server/dashboard/expiry.py): days before expiry.
    "ALARM_CERT_WARN_DAYS": 30.0,
    "ALARM_CERT_URGENT_DAYS": 7.0,
    "ALARM_CERT_CRITICAL_DAYS": 1.0,
}


@dataclass(frozen=True)
class Finding:
    """A rule that holds for a station now."""

    rule: str
    severity: str
    message: str


Rule = Callable[[StationRow, datetime, Mapping[str, float]], Finding | None]


def _offline(row: StationRow, now: datetime, limits: Mapping[str, float]) -> Finding | None:
    after = timedelta(seconds=limits["ALARM_OFFLINE_AFTER_S"])
    if row.presence == "offline" and row.presence_at and now - row.presence_at >= after:
        minutes = int((now - row.presence_at).total_seconds() // 60)
        return Finding("offline", "critical", f"ออฟไลน์ {minutes} นาที · offline for {minutes} min")
    if is_stale(row, now, limits):
        seconds = (now - (row.last_heartbeat_at or row.presence_at or now)).total_seconds()
        minutes = int(seconds // 60)
        return Finding(
            "offline",
            "critical",
            f"ไม่มีสัญญาณชีพ {minutes} นาที · no heartbeat for {minutes} min (stale)",
        )
    return None


def stale_after(limits: Mapping[str, float]) -> timedelta:
    """How old a heartbeat may be before an "online" station is shown offline.

    ``ALARM_STALE_HEARTBEATS`` heartbeat intervals, capped by the older ``ALARM_SILENT_AFTER_S``.
    """
    beats = limits["ALARM_STALE_HEARTBEATS"] * limits["STATION_HEARTBEAT_INTERVAL_S"]
    return timedelta(seconds=min(beats, limits["ALARM_SILENT_AFTER_S"]))


def is_stale(row: StationRow, now: datetime, limits: Mapping[str, float]) -> bool:
    """Whether ``row`` says "online" but has not been heard from for :func:`stale_after`.

    Without any heartbeat yet, the time it came online stands in for the last one.
    """
    heard = row.last_heartbeat_at or row.presence_at
    return row.presence == "online" and heard is not None and now - heard >= stale_after(limits)


def _paper(row: StationRow, now: datetime, limits: Mapping[str, float]) -> Finding | None:
    if row.paper == "paper-out":
        return Finding("paper_out", "critical", "กระดาษหมด · printer out of paper")
    return None


def _tamper(row: StationRow, now: datetime, limits: Mapping[str, float]) -> Finding | None:
    if row.tamper_open:
        return Finding("tamper", "critical", "ตู้ถูกเปิด · enclosure opened")
    return None


def _backlog(row: StationRow, now: datetime, limits: Mapping[str, float]) -> Finding | None:
    if row.backlog > limits["ALARM_BACKLOG"]:
        return Finding("backlog", "warning", f"ค้างส่ง {row.backlog} · backlog {row.backlog}")
    lag = row.oldest_undelivered_age_s
    if lag is not None and lag > limits["ALARM_LAG_S"]:
        minutes = int(lag // 60)
        return Finding("backlog", "warning", f"ค้างนาน {minutes} นาที · oldest waits {minutes} min")
    return None


def _disk(row: StationRow, now: datetime, limits: Mapping[str, float]) -> Finding | None:
    free = row.disk_free_pct
    if free is not None and free < limits["ALARM_DISK_FREE_PCT"]:
        return Finding("disk", "warning", f"พื้นที่ว่าง {free:.0f}% · disk {free:.0f}% free")
    return None


def _quarantine(row: StationRow, now: datetime, limits: Mapping[str, float]) -> Finding | None:
    if row.quarantined_at is not None:
        return quarantine_finding(row.quarantine_reason or "")
    return None


def quarantine_finding(reason: str) -> Finding:
    """The ``quarantine`` alarm of a station quarantined for ``reason``."""
    return Finding("quarantine", "critical", f"กักกันสถานี · quarantined: {reason}"[:200])


RULES: tuple[Rule, ...] = (_offline, _paper, _tamper, _backlog, _disk, _quarantine)
#: Rules raised by an event, not a station's state: :func:`evaluate` never clears them.
EVENT_RULES = frozenset({"budget", "rejected"})
#: Rules of certificates and the CRL, raised and cleared by ``expiry.evaluate`` (also for
#: the server's own files): :func:`evaluate` leaves them alone.
EXPIRY_RULES = frozenset({"certificate", "crl"})


def mark_stale(
    rows: list[StationRow], now: datetime, limits: Mapping[str, float]
) -> list[StationRow]:
    """``rows`` with :attr:`StationRow.stale` set where :func:`is_stale` holds."""
    return [replace(row, stale=is_stale(row, now, limits)) for row in rows]


def thresholds(config: Mapping[str, object] | None = None) -> dict[str, float]:
    """The rule thresholds: defaults overridden by ``config``."""
    values = dict(DEFAULT_THRESHOLDS)
    for key in values:
        if config is not None and key in config:
            values[key] = float(config[key])  # type: ignore[arg-type]
    return values


def evaluate(now: datetime | None = None, limits: Mapping[str, float] | None = None) -> dict:
    """Raise new alarms and clear ended ones across the fleet; returns what changed."""
    now = now or utc_now()
    limits = limits or thresholds()
    raised: list[tuple[str, str]] = []
    cleared: list[tuple[str, str]] = []
    with write_transaction():
        open_alarms = {
            (a.station_id, a.rule): a for a in Alarm.select().where(Alarm.cleared_at.is_null())
        }
        for values in Station.select(*COLUMNS).tuples().iterator():
            row = row_from_tuple(values)
            holding: dict[str, Finding] = {}
            for rule in RULES:
                finding = rule(row, now, limits)
                if finding is not None:
                    holding[finding.rule] = finding
            for name, finding in holding.items():
                if (row.station_id, name) not in open_alarms:
                    open_alarm(row.station_id, finding, now)
                    raised.append((row.station_id, name))
            for (station_id, name), alarm in open_alarms.items():
                ended = name not in holding and name not in EVENT_RULES | EXPIRY_RULES
                if station_id == row.station_id and ended:
                    alarm.cleared_at = now
                    alarm.cleared_by = "rule"
                    alarm.save()
                    cleared.append((station_id, name))
    return {"raised": raised, "cleared": cleared}


def raise_event(station_id: str, finding: Finding) -> bool:
    """Open ``finding`` on the station now unless that rule is already open there.

    For conditions noticed where they happen (a budget refused, a quarantine) rather than by
    the rules loop; returns ``True`` when a new alarm was opened.
    """
    return bool(raise_events({station_id: finding}))


def raise_events(findings: Mapping[str, Finding]) -> list[str]:
    """:func:`raise_event` for many stations at once (one query finds the open ones); returns
    the stations on which a new alarm was opened."""
    if not findings:
        return []
    opened: list[str] = []
    with write_transaction():
        already = set(
            Alarm.select(Alarm.station_id, Alarm.rule)
            .where(Alarm.station_id.in_(sorted(findings)), Alarm.cleared_at.is_null())
            .tuples()
        )
        now = utc_now()
        for station_id, finding in findings.items():
            if (station_id, finding.rule) not in already:
                open_alarm(station_id, finding, now)
                opened.append(station_id)
    return opened


def open_alarm(subject: str, finding: Finding, now: datetime) -> Alarm:
    """Open ``finding`` on ``subject`` (a station, or a part of the server) and write its
    notifications, in the caller's transaction: an alarm and who hears of it commit together.
    """
    alarm = Alarm.create(
        station_id=subject,
        rule=finding.rule,
        severity=finding.severity,
        message=finding.message[:200],
        raised_at=now,
    )
    notify_alarm(alarm, now)
    return alarm


def clear_rules(station_id: str, rules: tuple[str, ...], by: str) -> int:
    """Close the station's open alarms of ``rules`` (e.g. when its quarantine is lifted)."""
    with write_transaction():
        return (
            Alarm.update(cleared_at=utc_now(), cleared_by=by[:64])
            .where(
                Alarm.station_id == station_id, Alarm.rule.in_(rules), Alarm.cleared_at.is_null()
            )
            .execute()
        )


def acknowledge(alarm_id: int, by: str) -> Alarm:
    """Someone has seen it; it stays open until its condition ends or it is cleared."""
    with write_transaction():
        alarm = Alarm.get_by_id(alarm_id)
        if alarm.acknowledged_at is None:
            alarm.acknowledged_at = utc_now()
            alarm.acknowledged_by = by
            alarm.save()
    return alarm


def clear(alarm_id: int, by: str) -> Alarm:
    """Close an alarm by hand (it is raised again if its condition still holds)."""
    with write_transaction():
        alarm = Alarm.get_by_id(alarm_id)
        if alarm.cleared_at is None:
            alarm.cleared_at = utc_now()
            alarm.cleared_by = by
            alarm.save()
    return alarm


def open_alarms(station_id: str | None = None) -> list[Alarm]:
    """Open alarms, critical first, newest first."""
    query = Alarm.select().where(Alarm.cleared_at.is_null())
    if station_id is not None:
        query = query.where(Alarm.station_id == station_id)
    return sorted(query, key=lambda a: (a.severity != "critical", -a.id))


def history(station_id: str | None = None, limit: int = 100) -> list[Alarm]:
    """Cleared alarms, newest first."""
    query = Alarm.select().where(Alarm.cleared_at.is_null(False))
    if station_id is not None:
        query = query.where(Alarm.station_id == station_id)
    return list(query.order_by(Alarm.id.desc()).limit(limit))
