"""``/dashboard/notifications``: who is told of which alarms, and the maintenance windows."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from flask import Blueprint, Response, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext

from sync_server.db import utc_now
from sync_server.i18n import LANGUAGE_NAMES, LANGUAGES
from sync_server.local_time import deployment
from sync_server.notifications import maintenance, rules
from sync_server.notifications.dispatch import CHANNELS, SEVERITIES
from sync_server.notifications.models import Notification
from sync_server.notifications.texts import RULE_LABELS
from sync_server.operators.access import current_operator, record_audit, require_role

bp = Blueprint("notifications", __name__, url_prefix="/dashboard", template_folder="templates")

ROLES = ("operations", "administrator")


@bp.get("/notifications")
@require_role(*ROLES)
def page() -> str:
    """The rules, the maintenance windows and the latest notifications."""
    return render_template(
        "notifications/page.html",
        rules=rules.all_rules(),
        windows=maintenance.current_and_future(),
        recent=list(Notification.select().order_by(Notification.id.desc()).limit(50)),
        rule_labels=RULE_LABELS,
        channels=CHANNELS,
        severities=SEVERITIES,
        languages=[(code, LANGUAGE_NAMES[code]) for code in LANGUAGES],
        now=utc_now(),
    )


@bp.post("/notifications/rules")
@require_role(*ROLES)
def add_rule() -> Response:
    """Add a rule from the form."""
    form = request.form
    try:
        rule = rules.create_rule(
            alarm_rule=form.get("alarm_rule", ""),
            min_severity=form.get("min_severity", ""),
            channel=form.get("channel", ""),
            target=form.get("target", ""),
            language=form.get("language", ""),
            quiet_period_s=int(form.get("quiet_minutes", "60") or 0) * 60,
            by=current_operator().username,
        )
    except (rules.RuleError, ValueError) as exc:
        flash(gettext("Rule not saved: %(reason)s", reason=exc), "error")
        record_audit("notification.rule.add", outcome="refused")
    else:
        flash(gettext("Rule saved"), "ok")
        record_audit("notification.rule.add", subject=f"rule:{rule.id}")
    return redirect(url_for("notifications.page"), code=303)


@bp.post("/notifications/rules/<int:rule_id>/<action>")
@require_role(*ROLES)
def rule_action(rule_id: int, action: str) -> Response:
    """Switch a rule on or off."""
    if action not in ("enable", "disable"):
        abort(404)
    if rules.set_enabled(rule_id, action == "enable") is None:
        abort(404)
    record_audit(f"notification.rule.{action}", subject=f"rule:{rule_id}")
    return redirect(url_for("notifications.page"), code=303)


def _utc(text: str) -> datetime:
    """A ``datetime-local`` field's value, read in the deployment's zone (as every time on
    the pages is shown), as UTC."""
    local = datetime.fromisoformat(text).replace(tzinfo=deployment().zone())
    return local.astimezone(UTC)


@bp.post("/maintenance")
@require_role(*ROLES)
def add_window() -> Response:
    """Open a maintenance window from the form (start: now when left empty)."""
    form = request.form
    try:
        starts_at = _utc(form["starts_at"]) if form.get("starts_at") else utc_now()
        minutes = int(form.get("minutes", "0") or 0)
        if not 0 < minutes <= maintenance.MAX_LENGTH.total_seconds() / 60:
            raise maintenance.MaintenanceError(
                gettext("a window lasts from one minute to %(days)d days", days=31)
            )
        ends_at = starts_at + timedelta(minutes=minutes)
        window = maintenance.create(
            station_id=form.get("station_id"),
            building=form.get("building"),
            starts_at=starts_at,
            ends_at=ends_at,
            reason=form.get("reason", ""),
            by=current_operator().username,
        )
    except (maintenance.MaintenanceError, ValueError, OverflowError) as exc:
        flash(gettext("Maintenance window not saved: %(reason)s", reason=exc), "error")
        record_audit("maintenance.add", outcome="refused")
    else:
        flash(gettext("Maintenance window saved"), "ok")
        record_audit("maintenance.add", subject=window.station_id or window.building)
    return redirect(url_for("notifications.page"), code=303)


@bp.post("/maintenance/<int:window_id>/end")
@require_role(*ROLES)
def end_window(window_id: int) -> Response:
    """End a maintenance window now."""
    window = maintenance.end(window_id)
    if window is None:
        abort(404)
    record_audit("maintenance.end", subject=window.station_id or window.building)
    return redirect(url_for("notifications.page"), code=303)
