"""``/dashboard``: fleet, station, alarms, commands, charts and the live event stream."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import timedelta

from flask import (
    Blueprint,
    Response,
    abort,
    current_app,
    flash,
    g,
    redirect,
    render_template,
    request,
    stream_with_context,
    url_for,
)
from flask_babel import gettext

from sync_server.dashboard import alarms, broker, charts, commands, fleet, rejections
from sync_server.dashboard.models import Alarm, CommandRecord
from sync_server.db import database, utc_now
from sync_server.diagnostics import receive as diagnostics
from sync_server.fleet import enrollments, history
from sync_server.i18n import current_language
from sync_server.local_time import deployment, local_time
from sync_server.operators.access import current_operator, record_audit, require_role
from sync_server.redirects import local_path_or

bp = Blueprint(
    "dashboard",
    __name__,
    url_prefix="/dashboard",
    template_folder="templates",
    static_folder="static",
    static_url_path="/static",
)

ROLES = ("operations", "administrator")
PAGE_SIZE = 50
#: The most station rows one event stream follows (a fleet page shows PAGE_SIZE).
STREAM_STATIONS = 2 * PAGE_SIZE


@bp.app_template_filter("age")
def age(seconds: float | None) -> str:
    """``95`` → ``1 min 35 s``; ``None`` → ``—``."""
    if seconds is None:
        return "—"
    seconds = int(seconds)
    if seconds < 60:
        return f"{seconds} s"
    if seconds < 3600:
        return f"{seconds // 60} min {seconds % 60} s"
    return f"{seconds // 3600} h {seconds % 3600 // 60} min"


def _limits() -> dict[str, float]:
    return alarms.thresholds(current_app.config)


def _fresh(rows: list[fleet.StationRow]) -> list[fleet.StationRow]:
    """``rows`` with the stale ones marked (shown offline)."""
    return alarms.mark_stale(rows, utc_now(), _limits())


def server_link() -> dict[str, object]:
    """Whether the server's own data is current: the broker's answer and the fleet's heartbeats.

    ``broker_down_since``: since when the alarm worker's probe gets no answer (ISO, or
    ``None``). ``stale``: the broker is down, or every station that says "online" is stale
    (nothing arrives at all: the broker or the ingest is stuck) — the live dot turns red.
    """
    down_since = broker.unreachable_since()
    all_stale = fleet.all_online_stale(utc_now() - alarms.stale_after(_limits()))
    return {
        "broker_down_since": down_since.isoformat() if down_since else None,
        "broker_down_text": local_time(down_since) if down_since else None,
        "stale": down_since is not None or all_stale,
    }


@bp.get("/")
@require_role(*ROLES)
def fleet_page() -> str:
    """Every station, 50 a page, with presence and health; live over SSE."""
    page = max(request.args.get("page", 1, type=int), 1)
    presence = request.args.get("presence") or None
    search = request.args.get("q") or None
    stale_before = utc_now() - alarms.stale_after(_limits())
    rows, total = fleet.stations(
        presence=presence, search=search, page=page, size=PAGE_SIZE, stale_before=stale_before
    )
    rows = _fresh(rows)
    open_by_station: dict[str, int] = {}
    for alarm in alarms.open_alarms():
        open_by_station[alarm.station_id] = open_by_station.get(alarm.station_id, 0) + 1
    return render_template(
        "dashboard/fleet.html",
        rows=rows,
        total=total,
        page=page,
        pages=max(1, -(-total // PAGE_SIZE)),
        presence=presence,
        search=search or "",
        counts=fleet.counts(stale_before=stale_before),
        link=server_link(),
        open_by_station=open_by_station,
        open_alarms=sum(open_by_station.values()),
        chart=charts.bar_chart(
            charts.hourly(),
            "transactions",
            title=gettext("Transactions per hour (fleet, 24 h)"),
            unit="tx",
            local=deployment(),
            language=current_language(),
        ),
    )


# The fleet page is the blueprint's landing page under its conventional name too.
bp.add_url_rule("/", endpoint="fleet", view_func=fleet_page)


@bp.get("/stations/<station_id>")
@require_role(*ROLES)
def station_page(station_id: str) -> str:
    """One station: state, gauges, alarms, commands and its charts."""
    row = fleet.station(station_id)
    if row is None:
        abort(404)
    row = _fresh([row])[0]
    points = charts.hourly(station_id)
    beats = history.hourly(station_id)
    return render_template(
        "dashboard/station.html",
        row=row,
        link=server_link(),
        alarms_open=alarms.open_alarms(station_id),
        alarm_history=alarms.history(station_id, limit=20),
        commands=commands.recent(station_id),
        command_names=commands.COMMANDS,
        enrollments=enrollments.history(station_id),
        diagnostics=diagnostics.bundles(station_id),
        tx_chart=charts.bar_chart(
            points,
            "transactions",
            title=gettext("Transactions per hour"),
            unit="tx",
            local=deployment(),
            language=current_language(),
        ),
        lag_chart=charts.bar_chart(
            points,
            "mean_lag_s",
            title=gettext("Mean sync lag per hour"),
            unit="s",
            color="#a45d00",
            local=deployment(),
            language=current_language(),
        ),
        history_charts=[
            charts.bar_chart(
                beats,
                "backlog_max",
                title=gettext("Largest outbox backlog per hour"),
                unit="tx",
                local=deployment(),
                language=current_language(),
            ),
            charts.bar_chart(
                beats,
                "disk_free_min",
                title=gettext("Lowest free disk per hour"),
                unit="%",
                color="#2e7d32",
                local=deployment(),
                language=current_language(),
            ),
            charts.bar_chart(
                beats,
                "paper_out_pct",
                title=gettext("Share of the hour out of paper"),
                unit="%",
                color="#b3261e",
                local=deployment(),
                language=current_language(),
            ),
            charts.bar_chart(
                beats,
                "tamper_open_pct",
                title=gettext("Share of the hour with the enclosure open"),
                unit="%",
                color="#6a1b9a",
                local=deployment(),
                language=current_language(),
            ),
        ],
        versions=history.versions(station_id),
    )


@bp.post("/stations/<station_id>/commands")
@require_role(*ROLES)
def send_command(station_id: str) -> Response:
    """Send a remote command; it waits for an offline station until its time to live ends."""
    if fleet.station(station_id) is None:
        abort(404)
    name = request.form.get("name", "")
    me = current_operator().username
    ttl = timedelta(seconds=float(current_app.config["COMMAND_TTL_S"]))
    try:
        record = commands.issue(station_id, name, actor=me, ttl=ttl)
    except commands.CommandError as exc:
        flash(gettext("Not sent: %(reason)s", reason=exc), "error")
        record_audit(f"command.{name}"[:64], subject=station_id, outcome="refused")
    except OSError as exc:
        flash(gettext("The broker is unreachable: %(reason)s", reason=exc), "error")
        record_audit(f"command.{name}"[:64], subject=station_id, outcome="broker-down")
    else:
        label = gettext(commands.COMMANDS[name])
        flash(gettext("“%(command)s” sent; waiting for the station", command=label), "ok")
        record_audit(f"command.{name}", subject=station_id, outcome=record.status)
    return redirect(url_for("dashboard.station_page", station_id=station_id), code=303)


@bp.get("/stations/<station_id>/diagnostics/<command_id>.zip")
@require_role(*ROLES)
def download_diagnostics(station_id: str, command_id: str) -> Response:
    """One diagnostics bundle as the station sent it (redacted there); audited."""
    found = diagnostics.bundle(station_id, command_id)
    if found is None:
        abort(404)
    record_audit("diagnostics.download", subject=station_id, outcome=command_id[:36])
    stamp = found.received_at.strftime("%Y%m%dT%H%M%SZ")
    return Response(
        bytes(found.content),
        mimetype="application/zip",
        headers={
            "Content-Disposition": f"attachment; filename=diagnostics-{station_id}-{stamp}.zip",
            "Cache-Control": "no-store",
            "X-Content-SHA256": found.sha256,
        },
    )


@bp.post("/stations/<station_id>/quarantine/lift")
@require_role(*ROLES)
def lift_quarantine(station_id: str) -> Response:
    """Serve a quarantined station again (audited with the operator's name)."""
    from sync_server.budgets import lift_quarantine as lift

    if fleet.station(station_id) is None:
        abort(404)
    me = current_operator().username
    if lift(station_id, me):
        flash(gettext("Quarantine lifted; the station is served again"), "ok")
    else:
        flash(gettext("The station was not quarantined"), "error")
    return redirect(url_for("dashboard.station_page", station_id=station_id), code=303)


@bp.get("/alarms")
@require_role(*ROLES)
def alarms_page() -> str:
    """Open alarms (critical first) and the history."""
    return render_template(
        "dashboard/alarms.html",
        open_alarms=alarms.open_alarms(),
        history=alarms.history(limit=200),
    )


@bp.post("/alarms/<int:alarm_id>/<action>")
@require_role(*ROLES)
def alarm_action(alarm_id: int, action: str) -> Response:
    """Acknowledge or clear an alarm."""
    me = current_operator().username
    try:
        if action == "ack":
            alarm = alarms.acknowledge(alarm_id, me)
        elif action == "clear":
            alarm = alarms.clear(alarm_id, me)
        else:
            abort(404)
    except Alarm.DoesNotExist:
        abort(404)
    record_audit(f"alarm.{action}", subject=f"{alarm.station_id}:{alarm.rule}")
    back = local_path_or(request.form.get("next"), url_for("dashboard.alarms_page"))
    return redirect(back, code=303)


@bp.get("/events")
@require_role(*ROLES)
def events() -> Response:
    """Server-sent events: station rows that changed, the open-alarm count, command states.

    Rows go only for the stations the page shows: ``station`` (a station's page, with its
    commands) or ``stations`` (the fleet page's comma-separated ids, at most
    :data:`STREAM_STATIONS`). Without either (the alarms page) no rows go. Polls the database
    (the ingest workers are other processes) every ``DASHBOARD_POLL_S`` and ends after
    ``DASHBOARD_STREAM_S`` so long-lived connections do not pin a web worker; the browser's
    EventSource reconnects by itself.
    """
    station_id = request.args.get("station") or None
    shown = [one for one in (request.args.get("stations") or "").split(",") if one]
    shown = [station_id] if station_id is not None else shown[:STREAM_STATIONS]
    poll = float(current_app.config["DASHBOARD_POLL_S"])
    deadline = time.monotonic() + float(current_app.config["DASHBOARD_STREAM_S"])
    limits = _limits()

    def stream() -> Iterator[str]:
        seen_rows: dict[str, dict] = {}
        seen_alarms: int | None = None
        seen_commands: dict[str, str] = {}
        seen_link: dict[str, object] | None = None
        yield "retry: 2000\n\n"
        while time.monotonic() < deadline:
            with database.connection_context():
                rows = alarms.mark_stale(fleet.stations_by_id(shown), utc_now(), limits)
                link = server_link()
                open_count = Alarm.select().where(Alarm.cleared_at.is_null()).count()
                states = {}
                if station_id is not None:
                    states = {
                        c.command_id: f"{c.status}|{c.detail or ''}"
                        for c in commands.recent(station_id)
                    }
            for row in rows:
                event = row.as_event()
                if seen_rows.get(row.station_id) != event:
                    seen_rows[row.station_id] = event
                    yield f"event: station\ndata: {json.dumps(event)}\n\n"
            if link != seen_link:
                seen_link = link
                yield f"event: server\ndata: {json.dumps(link)}\n\n"
            if open_count != seen_alarms:
                seen_alarms = open_count
                yield f"event: alarms\ndata: {json.dumps({'open': open_count})}\n\n"
            for command_id, state in states.items():
                if seen_commands.get(command_id) != state:
                    seen_commands[command_id] = state
                    status, _, detail = state.partition("|")
                    payload = {"command_id": command_id, "status": status, "detail": detail}
                    yield f"event: command\ndata: {json.dumps(payload)}\n\n"
            time.sleep(poll)

    return Response(
        stream_with_context(stream()),
        mimetype="text/event-stream",
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )


def live_labels() -> dict[str, object]:
    """The words the pages and dashboard.js show for live values, in the page's language.

    Made once per request: the fleet page asks for them three times per station row.
    """
    if "live_labels" not in g:
        g.live_labels = _live_labels()
    return g.live_labels


def _live_labels() -> dict[str, object]:
    return {
        "online": gettext("Online"),
        "offline": gettext("Offline"),
        "stale": gettext("Offline (no heartbeat)"),
        "stale_data": "● " + gettext("data stale"),
        "broker_down": gettext("Broker unreachable since %(when)s"),
        "unknown": gettext("Unknown"),
        "tamper_open": gettext("Enclosure open"),
        "tamper_closed": gettext("Enclosure closed"),
        "live": "● " + gettext("live"),
        "reconnecting": "○ " + gettext("reconnecting"),
        "paper": {code: gettext(label) for code, label in fleet.PRINTER_STATES.values()},
    }


@bp.context_processor
def _labels() -> dict[str, object]:
    return {
        "printer_states": fleet.PRINTER_STATES,
        "CommandRecord": CommandRecord,
        "live_labels": live_labels,
        "alarm_message": rejections.describe,
    }
