"""Pages: log in and out, the session heartbeat, password, profile, administration, audit."""

from __future__ import annotations

import csv
import io
from datetime import datetime, timedelta

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
    session,
    url_for,
)
from flask_babel import gettext, ngettext

from contract.identifiers import format_thai_mobile
from sync_server.audit import audit as write_audit
from sync_server.audit.models import AuditEvent
from sync_server.operators import sessions
from sync_server.operators.access import (
    SESSION_KEY,
    current_operator,
    load_operator,
    require_role,
)
from sync_server.operators.login_limits import (
    LOGIN_PER_ADDRESS,
    count_login_attempt,
    login_limiter,
)
from sync_server.operators.models import ROLES, Operator
from sync_server.operators.policy import password_problems, profile_problems
from sync_server.operators.redact import redact
from sync_server.operators.spreadsheet import formula_safe
from sync_server.ratelimit import RateLimitedError, RateLimiter
from sync_server.records.passwords import temporary_password
from sync_server.redirects import local_path_or

bp = Blueprint("operators", __name__, template_folder="templates")

AUDIT_PAGE = 100


def _limiter() -> RateLimiter:
    return login_limiter(current_app.secret_key.encode())


def _machine() -> str:
    """What names a login's machine in the audit trail: address and browser."""
    agent = (request.user_agent.string or "unknown browser")[:80]
    return f"{request.remote_addr} {agent}"


def _safe_next(target: str | None) -> str:
    """Where to go after logging in: ``target`` if it stays on this site, else home."""
    return local_path_or(target, url_for("operators.home"))


@bp.get("/")
def home() -> Response:
    """Each role's first page."""
    operator = g.get("operator") or load_operator()
    if operator is None:
        return redirect(url_for("operators.login"), code=303)
    for endpoint, roles in (
        ("backoffice.queue", ("officer", "administrator")),
        ("dashboard.fleet", ("operations", "administrator")),
        ("bills.fees", ("building_manager",)),
        ("operators.admin_list", ("administrator",)),
    ):
        if operator.role in roles and endpoint in current_app.view_functions:
            return redirect(url_for(endpoint), code=303)
    return redirect(url_for("operators.profile"), code=303)


@bp.route("/login", methods=["GET", "POST"])
def login() -> str | Response:
    """Username and password; one machine per account."""
    if request.method == "GET":
        if load_operator() is not None:
            return redirect(url_for("operators.home"), code=303)
        return render_template("operators/login.html", username="")
    username = request.form.get("username", "").strip()
    password = request.form.get("password", "")
    try:
        count_login_attempt(_limiter(), username, LOGIN_PER_ADDRESS, request.remote_addr or "")
        _operator, token = sessions.open_session(username, password, _machine())
    except RateLimitedError as exc:
        minutes = int(exc.retry_after_s // 60) + 1
        flash(
            ngettext(
                "Too many attempts; try again in %(num)d minute",
                "Too many attempts; try again in %(num)d minutes",
                minutes,
            ),
            "error",
        )
        return render_template("operators/login.html", username=username), 429
    except sessions.OperatorError as exc:
        flash(str(exc), "error")
        return render_template("operators/login.html", username=username), 403
    session.clear()
    session[SESSION_KEY] = token
    return redirect(_safe_next(request.args.get("next")), code=303)


@bp.post("/logout")
def logout() -> Response:
    """End the session here, so the next login (anywhere) is allowed."""
    token = session.pop(SESSION_KEY, None)
    if token:
        sessions.close_session(token)
    flash(gettext("Logged out"), "ok")
    return redirect(url_for("operators.login"), code=303)


@bp.post("/session/heartbeat")
def heartbeat() -> Response:
    """The open page says the browser is still there (static/heartbeat.js)."""
    alive = load_operator() is not None
    return Response(status=204 if alive else 401)


@bp.route("/account/password", methods=["GET", "POST"])
def password() -> str | Response:
    """Change the password: current, new, confirm."""
    operator = load_operator()
    if operator is None:
        return redirect(url_for("operators.login"), code=303)
    errors: list[tuple[str, str]] = []
    if request.method == "POST":
        new = request.form.get("new_password", "")
        if new != request.form.get("confirm_password", ""):
            errors.append(("confirm_password", gettext("The two new passwords differ")))
        errors += password_problems(new, username=operator.username)
        if new and new == request.form.get("current_password"):
            errors.append(("new_password", gettext("Must differ from the current one")))
        if not errors:
            try:
                sessions.change_password(operator, request.form.get("current_password", ""), new)
            except sessions.BadCredentials as exc:
                errors.append(("current_password", str(exc)))
            else:
                flash(gettext("Password changed"), "ok")
                return redirect(url_for("operators.home"), code=303)
    status = 400 if errors else 200
    return render_template("operators/password.html", errors=errors), status


@bp.route("/account/profile", methods=["GET", "POST"])
@require_role()
def profile() -> str | Response:
    """The operator's own profile with seed 003's validation."""
    operator = current_operator()
    errors: list[tuple[str, str]] = []
    values = {
        name: getattr(operator, name)
        for name in ("first_name", "last_name", "position", "citizen_id", "email", "phone")
    }
    if request.method == "POST":
        values = {name: request.form.get(name, "").strip() for name in values}
        errors = profile_problems(**values)
        if not errors:
            # One stored form, however the phone was typed.
            values["phone"] = format_thai_mobile(values["phone"])
            for name, value in values.items():
                setattr(operator, name, value)
            operator.save()
            write_audit(operator.username, "operator.profile", operator.username)
            flash(gettext("Profile saved"), "ok")
            return redirect(url_for("operators.profile"), code=303)
    status = 400 if errors else 200
    return render_template("operators/profile.html", values=values, errors=errors), status


# -- administrators --------------------------------------------------------------------------


@bp.get("/admin/operators")
@require_role("administrator")
def admin_list() -> str:
    """Every operator with role, lock state and live session."""
    live = {
        s.operator_id: s
        for s in sessions.OperatorSession.select().where(
            sessions.OperatorSession.ended_at.is_null()
        )
    }
    operators = list(Operator.select().order_by(Operator.username))
    return render_template("operators/admin_list.html", operators=operators, live=live, roles=ROLES)


@bp.post("/admin/operators")
@require_role("administrator")
def admin_create() -> str | Response:
    """A new account with a one-time password shown once; it must be changed at first login."""
    me = current_operator().username
    username = request.form.get("username", "").strip().lower()
    role = request.form.get("role", "")
    initial = temporary_password(12) + "#"
    try:
        sessions.create_operator(username, initial, role, created_by=me)
    except sessions.OperatorError as exc:
        flash(str(exc), "error")
        return redirect(url_for("operators.admin_list"), code=303)
    # Shown once on this response only (never logged, never stored in clear).
    response = render_template(
        "operators/created.html", username=username, role=role, initial=initial
    )
    return Response(response, headers={"Cache-Control": "no-store"})


@bp.post("/admin/operators/<username>/<action>")
@require_role("administrator")
def admin_action(username: str, action: str) -> Response:
    """Unlock, lock, or change the role of an account."""
    me = current_operator().username
    try:
        if action == "unlock":
            sessions.unlock(username, by=me)
            flash(gettext("%(username)s unlocked", username=username), "ok")
        elif action == "lock":
            if username == me:
                raise sessions.OperatorError(gettext("You cannot lock yourself"))
            sessions.lock(username, by=me)
            flash(gettext("%(username)s locked", username=username), "ok")
        elif action == "role":
            role = request.form.get("role", "")
            if role not in ROLES:
                abort(400)
            Operator.update(role=role).where(Operator.username == username).execute()
            write_audit(me, "operator.role", f"{username}:{role}")
            flash(f"{username}: {role}", "ok")
        else:
            abort(404)
    except sessions.UnknownOperator:
        abort(404)
    except sessions.OperatorError as exc:
        flash(str(exc), "error")
    return redirect(url_for("operators.admin_list"), code=303)


def _audit_query():  # type: ignore[no-untyped-def]
    args = request.args
    query = AuditEvent.select().order_by(AuditEvent.id.desc())
    if actor := args.get("actor", "").strip():
        query = query.where(AuditEvent.actor == actor)
    if action := args.get("action", "").strip():
        query = query.where(AuditEvent.action.startswith(action))
    if subject := args.get("subject", "").strip():
        query = query.where(AuditEvent.subject == subject)
    for name, op in (("since", "ge"), ("until", "lt")):
        if value := args.get(name, "").strip():
            try:
                day = datetime.fromisoformat(value)
            except ValueError:
                abort(400, description=f"{name}: a date as YYYY-MM-DD")
            if op == "lt":
                day += timedelta(days=1)
            query = query.where(AuditEvent.at >= day if op == "ge" else AuditEvent.at < day)
    return query


@bp.get("/admin/audit")
@require_role("administrator")
def audit() -> str:
    """Search the audit trail by actor, action, subject and dates."""
    page = max(request.args.get("page", 1, type=int), 1)
    query = _audit_query()
    rows = list(query.paginate(page, AUDIT_PAGE))
    write_audit(current_operator().username, "audit.search", None)
    return render_template(
        "operators/audit.html", rows=rows, page=page, args=request.args, redact=redact
    )


@bp.get("/admin/audit.csv")
@require_role("administrator")
def audit_export() -> Response:
    """The matching events as CSV, personal data masked, no cell a spreadsheet formula."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["at", "actor", "action", "subject", "outcome"])
    for event in _audit_query().iterator():
        cells = [
            event.at.isoformat() if hasattr(event.at, "isoformat") else event.at,
            redact(event.actor),
            event.action,
            redact(event.subject),
            event.outcome,
        ]
        writer.writerow([formula_safe(cell) for cell in cells])
    write_audit(current_operator().username, "audit.export", None)
    return Response(
        out.getvalue(),
        mimetype="text/csv",
        headers={
            "Content-Disposition": "attachment; filename=audit.csv",
            "Cache-Control": "no-store",
        },
    )
