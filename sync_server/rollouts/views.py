"""``/dashboard/rollouts``: releases and rollouts, one rollout's waves and stations; create
and abort (operations and administrators; every action audited with the operator's name)."""

from __future__ import annotations

import json
from datetime import timedelta

from flask import (
    Blueprint,
    Response,
    abort,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_babel import gettext

from sync_server.db import utc_now
from sync_server.i18n import N_
from sync_server.operators.access import current_operator, record_audit, require_role
from sync_server.rollouts import releases, service
from sync_server.rollouts.models import Rollout, RolloutJob, RolloutWave
from sync_server.rollouts.targets import Target, TargetError

bp = Blueprint("rollouts", __name__, url_prefix="/dashboard/rollouts", template_folder="templates")

ROLES = ("operations", "administrator")

#: A state's label on the pages (msgids); the code in the page stays the contract's.
STATE_LABELS: dict[str, str] = {
    "pending": N_("pending"),
    "sent": N_("sent"),
    "queued": N_("queued"),
    "downloading": N_("downloading"),
    "verifying": N_("verifying"),
    "installing": N_("installing"),
    "switching": N_("switching"),
    "health_check": N_("health check"),
    "committed": N_("committed"),
    "rolled_back": N_("rolled back"),
    "failed": N_("failed"),
    "expired": N_("expired"),
    "cancelled": N_("cancelled"),
    "running": N_("running"),
    "completed": N_("completed"),
    "aborted": N_("aborted"),
    "succeeded": N_("succeeded"),
}


@bp.app_template_filter("rollout_state")
def rollout_state(state: str | None) -> str:
    """A state in the page's language."""
    if state is None:
        return "—"
    return gettext(STATE_LABELS[state]) if state in STATE_LABELS else state


def _target_text(rollout: Rollout) -> str:
    target = json.loads(rollout.target)
    kind = target["kind"]
    if kind == "all":
        return gettext("every station")
    if kind == "percent":
        share = format(target["percent"], "g")
        return gettext("%(percent)s%% of the fleet", percent=share)
    if kind == "buildings":
        return gettext("buildings: %(names)s", names=", ".join(target["buildings"]))
    return gettext("stations: %(names)s", names=", ".join(target["stations"]))


@bp.app_context_processor
def _helpers() -> dict[str, object]:
    return {"rollout_target": _target_text}


@bp.get("/")
@require_role(*ROLES)
def list_page() -> str:
    """Every rollout with its figures, the releases, and the form to create one."""
    rollouts = list(Rollout.select().order_by(Rollout.created_at.desc()).limit(100))
    return render_template(
        "rollouts/list.html",
        rollouts=[(rollout, service.summary(rollout)) for rollout in rollouts],
        releases=releases.releases(),
        deadline_h=current_app.config["ROLLOUT_DEADLINE_H"],
    )


@bp.get("/<rollout_id>")
@require_role(*ROLES)
def rollout_page(rollout_id: str) -> str:
    """One rollout: its waves and every station's state."""
    rollout = Rollout.get_or_none(Rollout.rollout_id == rollout_id)
    if rollout is None:
        abort(404)
    waves = []
    for wave in (
        RolloutWave.select().where(RolloutWave.rollout == rollout).order_by(RolloutWave.number)
    ):
        jobs = list(
            RolloutJob.select().where(RolloutJob.wave == wave).order_by(RolloutJob.station_id)
        )
        waves.append((wave, jobs))
    config = json.loads(rollout.config) if rollout.config else None
    return render_template(
        "rollouts/rollout.html",
        rollout=rollout,
        figures=service.summary(rollout),
        waves=waves,
        config=config,
    )


def _settings(text: str) -> dict[str, object]:
    settings: dict[str, object] = {}
    for line in text.splitlines():
        if not line.strip():
            continue
        key, sep, value = line.partition("=")
        if not sep:
            raise ValueError(gettext("one setting per line, key=value"))
        try:
            settings[key.strip()] = json.loads(value.strip())
        except ValueError:
            settings[key.strip()] = value.strip()
    return settings


def _target(form) -> Target:
    kind = form.get("target_kind", "all")
    value = form.get("target_value", "")
    names = [name.strip() for name in value.replace("\n", ",").split(",") if name.strip()]
    data: dict[str, object] = {"kind": kind}
    if kind == "percent":
        data["percent"] = float(value or 0)
    elif kind in ("buildings", "stations"):
        data[kind] = names
    return Target.from_json(data)


@bp.post("/")
@require_role(*ROLES)
def create() -> Response:
    """Create a rollout from the form."""
    form = request.form
    me = current_operator().username
    try:
        plan = service.Plan(
            target=_target(form),
            wave_sizes=[int(size) for size in form.get("waves", "1").split(",")],
            deadline=utc_now() + timedelta(hours=float(form.get("deadline_h") or 72)),
            success_pct=float(form.get("success_pct") or 100),
            abort_pct=float(form.get("abort_pct") or 0),
            min_executed=int(form.get("min_executed") or 1),
        )
        release = config = None
        if form.get("kind") == "config":
            config = (form.get("config_label", ""), _settings(form.get("settings", "")))
        else:
            release = releases.by_version(form.get("release", ""))
            if release is None:
                raise ValueError(gettext("choose a registered release"))
        rollout = service.create(plan, actor=me, now=utc_now(), release=release, config=config)
    except (ValueError, TargetError) as exc:
        flash(gettext("Not created: %(reason)s", reason=exc), "error")
        record_audit("rollout.create", subject=None, outcome="refused")
        return redirect(url_for("rollouts.list_page"), code=303)
    flash(gettext("Rollout created; the first wave starts at the worker's next round"), "ok")
    return redirect(url_for("rollouts.rollout_page", rollout_id=rollout.rollout_id), code=303)


@bp.post("/<rollout_id>/abort")
@require_role(*ROLES)
def abort_rollout(rollout_id: str) -> Response:
    """Abort a running rollout: its running wave is rolled back."""
    me = current_operator().username
    reason = (request.form.get("reason") or "").strip() or gettext("aborted by an operator")
    if service.abort(rollout_id, actor=me, reason=reason, now=utc_now()):
        flash(gettext("Rollout aborted; its running wave is being rolled back"), "ok")
    else:
        flash(gettext("This rollout is not running"), "error")
    return redirect(url_for("rollouts.rollout_page", rollout_id=rollout_id), code=303)
