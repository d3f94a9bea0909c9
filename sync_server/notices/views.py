"""``/dashboard/notices``: operations write, publish and withdraw public notices."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

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
from sync_server.i18n import LANGUAGE_NAMES
from sync_server.local_time import deployment
from sync_server.notices import service
from sync_server.notices.models import PublicNotice
from sync_server.notices.publish import app_publisher, app_signing_key
from sync_server.operators.access import current_operator, record_audit, require_role

bp = Blueprint("notices", __name__, url_prefix="/dashboard", template_folder="templates")

ROLES = ("operations", "administrator")


def _publish(row: PublicNotice) -> bool:
    return service.publish(
        row,
        app_publisher(current_app.config),
        app_signing_key(current_app.config, current_app.instance_path),
    )


def _when(text: str, default: datetime | None = None) -> datetime:
    """A ``datetime-local`` field read in the deployment's time zone (what the operator's
    wall clock says); empty: ``default``."""
    if not text.strip():
        if default is None:
            raise service.NoticeError("ends_at", "an end time is needed")
        return default
    try:
        return datetime.fromisoformat(text).replace(tzinfo=deployment().zone)
    except ValueError:
        raise service.NoticeError("starts_at", "a date and time") from None


@bp.get("/notices")
@require_role(*ROLES)
def page() -> str:
    """The notices that have not ended, and the form for a new one."""
    return _page(request.args, None)


def _page(form: Mapping[str, str], error_field: str | None) -> str:
    """The page; the form holds ``form`` (what was typed, after a refusal)."""
    now = utc_now()
    rows = service.listing(now)
    return render_template(
        "notices/page.html",
        rows=rows,
        states={row.notice_id: service.state_of(row, now) for row in rows},
        languages=LANGUAGE_NAMES,
        form=form,
        error_field=error_field,
    )


@bp.post("/notices")
@require_role(*ROLES)
def create() -> Response | tuple[str, int]:
    """Write the notice, then publish it to its stations."""
    form = request.form
    try:
        draft = service.Draft(
            scope=form.get("scope", ""),
            district=form.get("district"),
            buildings=tuple(form.get("buildings", "").replace(" ", ",").split(",")),
            starts_at=_when(form.get("starts_at", ""), utc_now()),
            ends_at=_when(form.get("ends_at", "")),
            texts={
                lang: (form.get(f"title_{lang}", ""), form.get(f"body_{lang}", ""))
                for lang in ("th", "vi", "en")
            },
        )
        row = service.create(draft, actor=current_operator().username)
    except service.NoticeError as exc:
        flash(gettext("Notice not saved: %(reason)s", reason=exc), "error")
        record_audit("notice.create", outcome="refused")
        # The form again with what was typed (three languages of text), the field at fault
        # marked; a redirect would have lost it all.
        return _page(form, exc.field), 422
    if _publish(row):
        flash(gettext("Notice published"), "ok")
    else:
        flash(gettext("Notice saved, but the broker did not confirm it: publish it again"), "error")
    return redirect(url_for("notices.page"), code=303)


@bp.post("/notices/<notice_id>/<action>")
@require_role(*ROLES)
def act(notice_id: str, action: str) -> Response:
    """``withdraw`` a notice, or ``publish`` it again."""
    if action not in ("withdraw", "publish"):
        abort(404)
    if action == "withdraw":
        row = service.withdraw(notice_id, actor=current_operator().username)
    else:
        row = PublicNotice.get_or_none(PublicNotice.notice_id == notice_id)
        record_audit("notice.publish", subject=f"notice:{notice_id}")
    if row is None:
        abort(404)
    if _publish(row):
        flash(
            gettext("Notice withdrawn") if action == "withdraw" else gettext("Notice published"),
            "ok",
        )
    else:
        flash(gettext("The broker did not confirm it: try again"), "error")
    return redirect(url_for("notices.page"), code=303)
