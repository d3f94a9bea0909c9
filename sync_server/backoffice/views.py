"""``/backoffice``: the officers' queue, a petition's page, assign and change status.

Server-rendered on the operators' base template; every form carries the CSRF token; only the
officer and administrator roles get in (``sync_server.operators.require_role``).
"""

from __future__ import annotations

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

from sync_server.backoffice.form_labels import form_key_label, form_value_text
from sync_server.fleet.models import Station
from sync_server.operators import sessions
from sync_server.operators.access import current_operator, require_role
from sync_server.petitions import service
from sync_server.petitions.labels import SERVICE_NAMES, service_text, status_text
from sync_server.petitions.service import STATUSES, PetitionError, QueueFilter
from sync_server.sms import gateway
from sync_server.sms.outbox import SENT, Outbox

bp = Blueprint("backoffice", __name__, url_prefix="/backoffice", template_folder="templates")

ROLES = ("officer", "administrator")


@bp.context_processor
def _labels() -> dict[str, object]:
    return {
        "status_text": status_text,
        "service_text": service_text,
        "form_key_label": form_key_label,
        "form_value_text": form_value_text,
    }


def _me() -> str:
    return current_operator().username


@bp.get("/")
@require_role(*ROLES)
def queue() -> str:
    """The queue with its filters and pages."""
    args = request.args
    assignee = args.get("assignee") or None
    if assignee == "me":
        assignee = _me()
    filters = QueueFilter(
        status=args.get("status") or "open",
        service=args.get("service") or None,
        station=args.get("station") or None,
        kind=args.get("kind") or None,
        assignee=assignee,
    )
    page = service.queue(filters, page=args.get("page", 1, type=int))
    stations = [
        s.station_id for s in Station.select(Station.station_id).order_by(Station.station_id)
    ]
    return render_template(
        "backoffice/queue.html",
        page=page,
        filters=filters,
        chosen=args,
        statuses=STATUSES,
        services=SERVICE_NAMES,
        stations=stations,
    )


@bp.get("/petitions/<number>")
@require_role(*ROLES)
def petition(number: str) -> str:
    """One petition: details, history, assign and status forms."""
    try:
        view = service.petition_view(number, viewer=_me())
    except PetitionError:
        abort(404)
    return render_template(
        "backoffice/petition.html",
        petition=view,
        officers=sessions.assignable_officers(),
        me=_me(),
    )


@bp.post("/petitions/<number>/assign")
@require_role(*ROLES)
def assign(number: str) -> Response:
    """Assign to the chosen officer (or to me)."""
    assignee = request.form.get("assignee", "").strip()
    if assignee == "me":
        assignee = _me()
    if assignee not in sessions.assignable_officers():
        flash(gettext("Choose an existing officer"), "error")
    else:
        try:
            service.assign(number, assignee, assigned_by=_me())
        except PetitionError:
            abort(404)
        flash(gettext("Assigned to %(officer)s", officer=assignee), "ok")
    return redirect(url_for("backoffice.petition", number=number), code=303)


@bp.post("/petitions/<number>/status")
@require_role(*ROLES)
def change_status(number: str) -> Response:
    """Change the status with a comment, then text the citizen."""
    to_status = request.form.get("status", "")
    comment = request.form.get("comment", "").strip()
    if not comment:
        # Said in the page's language; the service's own reason is English for the logs.
        flash(gettext("Status not changed: write an internal comment first"), "error")
        return redirect(url_for("backoffice.petition", number=number), code=303)
    try:
        result = service.change_status(number, to_status, actor=_me(), comment=comment)
    except PetitionError as exc:
        flash(gettext("Status not changed: %(reason)s", reason=exc), "error")
        return redirect(url_for("backoffice.petition", number=number), code=303)
    status = status_text(result.to_status)
    # The SMS was queued with the change; try it now so the officer learns how it went.
    config = dict(current_app.config)
    # Unset TRACKING_URL: this server's own page (the SMS worker refuses to start without it).
    config["TRACKING_URL"] = config.get("TRACKING_URL") or (
        request.host_url.rstrip("/") + "/track?number={number}"
    )
    delivered = Outbox(gateway(), config).deliver_now([result.sms_id])
    if delivered and delivered[0].state == SENT:
        flash(gettext("Now “%(status)s”; SMS sent", status=status), "ok")
    else:
        flash(
            gettext("Now “%(status)s”; the SMS is not out yet and will be retried", status=status),
            "error",
        )
    return redirect(url_for("backoffice.petition", number=number), code=303)


@bp.post("/petitions/<number>/phone")
@require_role(*ROLES)
def update_phone(number: str) -> Response:
    """Seed 004: record the citizen's new number after verifying who they are."""
    try:
        service.update_phone(
            number,
            request.form.get("phone", ""),
            actor=_me(),
            verified_by=request.form.get("verified_by", ""),
        )
    except PetitionError as exc:
        flash(gettext("Number not changed: %(error)s", error=str(exc)), "error")
    else:
        flash(gettext("The new number is recorded"), "ok")
    return redirect(url_for("backoffice.petition", number=number), code=303)
