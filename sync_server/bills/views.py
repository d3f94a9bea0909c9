"""The bills feature's web side: the building manager's fee page and the bank's webhook.

``/bills/fees``: a building manager (or an administrator) picks a building and a month, sees
each unit's fee and whether it is paid, uploads a CSV file (``unit,citizen_id,amount``) or
edits one unit's fee. ``/bills/webhook/bank``: the bank's signed payment callback
(:mod:`sync_server.bills.webhook`), exempt from CSRF (it carries its own HMAC).
"""

from __future__ import annotations

import time
from datetime import date
from decimal import Decimal

from flask import (
    Blueprint,
    Flask,
    current_app,
    flash,
    jsonify,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_babel import gettext
from werkzeug.wrappers import Response

from contract.identifiers import InvalidCitizenIdError, normalize_citizen_id
from sync_server.bills import management
from sync_server.bills.config import deployment_currency
from sync_server.bills.payments import Billing, quantize
from sync_server.bills.webhook import WebhookRejectedError, verify
from sync_server.operators.access import current_operator, require_role

bp = Blueprint("bills", __name__, url_prefix="/bills", template_folder="templates")

ROLES = ("building_manager", "administrator")
BUILDING = management.BUILDING


def _currency() -> str:
    return deployment_currency(current_app.config)


def _scope() -> tuple[str, str]:
    source = request.form if request.method == "POST" else request.args
    building = source.get("building", "").strip()
    period = source.get("period", "").strip() or date.today().strftime("%Y-%m")
    return building, period


@bp.get("/fees")
@require_role(*ROLES)
def fees() -> str:
    """One building's fees for one month."""
    building, period = _scope()
    valid = bool(BUILDING.match(building)) and bool(management.PERIOD.match(period))
    rows = management.fees_of(building, period) if valid else []
    return render_template(
        "bills/fees.html",
        building=building,
        period=period,
        valid=valid,
        rows=rows,
        currency=_currency(),
        money=lambda amount: quantize(Decimal(amount), _currency()),
    )


def _back(building: str, period: str) -> Response:
    return redirect(url_for("bills.fees", building=building, period=period), code=303)


@bp.post("/fees/upload")
@require_role(*ROLES)
def upload() -> Response:
    """Set the month's fees from a CSV file."""
    building, period = _scope()
    if not BUILDING.match(building) or not management.PERIOD.match(period):
        flash(gettext("Choose a building and a month first."), "error")
        return _back(building, period)
    upload_file = request.files.get("file")
    data = upload_file.read(2 << 20) if upload_file is not None else b""
    try:
        lines = management.parse_fee_file(data, _currency())
    except management.FeeFileError as exc:
        flash(gettext("Line %(line)d: %(problem)s", line=exc.line, problem=exc.problem), "error")
        return _back(building, period)
    count = management.set_fees(building, period, lines, _currency(), current_operator().username)
    flash(gettext("%(count)d fees set.", count=count), "ok")
    return _back(building, period)


@bp.post("/fees/edit")
@require_role(*ROLES)
def edit() -> Response:
    """Set one unit's fee (and who pays it)."""
    building, period = _scope()
    unit = request.form.get("unit", "").strip()
    try:
        citizen_id = normalize_citizen_id(request.form.get("citizen_id", ""))
        amount = management.parse_amount(request.form.get("amount", ""), _currency())
    except (InvalidCitizenIdError, ValueError):
        flash(gettext("A unit needs a valid citizen id and a positive amount."), "error")
        return _back(building, period)
    if not management.UNIT.match(unit) or not BUILDING.match(building):
        flash(gettext("A unit is letters, digits and '-'."), "error")
        return _back(building, period)
    line = management.FeeLine(unit, citizen_id, amount)
    management.set_fees(building, period, [line], _currency(), current_operator().username)
    flash(gettext("Fee of unit %(unit)s set.", unit=unit), "ok")
    return _back(building, period)


@bp.post("/webhook/bank")
def bank_webhook() -> tuple[Response, int]:
    """The bank confirms a payment (signed; see :mod:`sync_server.bills.webhook`)."""
    secret = current_app.config.get("BANK_WEBHOOK_SECRET")
    if not secret:
        return jsonify(error="not_configured"), 503
    key = secret.encode() if isinstance(secret, str) else secret
    window = float(current_app.config.get("BANK_WEBHOOK_WINDOW_S", 300))
    try:
        callback = verify(request.headers, request.get_data(), key, window, time.time())
    except WebhookRejectedError as exc:
        return jsonify(error=exc.reason), exc.status
    billing = Billing.from_config(current_app.config)
    outcome = billing.settle(
        callback.reference,
        callback.amount,
        callback.currency,
        callback.bank_txn,
        callback.paid_at,
        callback.nonce,
    )
    if outcome == "replayed":
        return jsonify(error="replayed"), 409
    return jsonify(result=outcome), 200


def init_app(app: Flask) -> None:
    """Register the pages; the webhook carries its own signature instead of a CSRF token."""
    app.register_blueprint(bp)
    csrf = app.extensions.get("csrf")
    if csrf is not None:
        csrf.exempt(bank_webhook)
