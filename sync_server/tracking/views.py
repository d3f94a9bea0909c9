"""``/track``: the public tracking page (no login; CSRF on every form; rate-limited).

In Thai, Vietnamese or English (sync_server/i18n.py picks it; the page has a switch); the
code goes out by SMS in the page's language.

Flow: number + phone → (code by SMS if they match a petition) → code → status history.
The signed session cookie carries the ticket id and, once verified, a 10-minute grant to
see that one petition's history.
"""

from __future__ import annotations

import math
from datetime import timedelta

from flask import (
    Blueprint,
    Response,
    current_app,
    make_response,
    redirect,
    render_template,
    request,
    session,
    url_for,
)

from sync_server.db import utc_now
from sync_server.i18n import current_language
from sync_server.otp import OtpAttemptsExceededError, OtpExpiredError, otp_service
from sync_server.petitions.labels import status_text
from sync_server.ratelimit import RateLimitedError
from sync_server.sms import mask_phone
from sync_server.tracking import service
from sync_server.tracking.service import TrackingInputError, TrackingLimits

bp = Blueprint(
    "tracking",
    __name__,
    url_prefix="/track",
    template_folder="templates",
    static_folder="static",
)

#: How long a verified code lets the browser see the petition's history.
GRANT = timedelta(minutes=10)
_PENDING = "track_pending"
_GRANTED = "track_granted"


def _limits() -> TrackingLimits:
    return TrackingLimits.from_config(current_app.config)


def _client_ip() -> str:
    # Behind a reverse proxy, ProxyFix (deployment config) makes this the client's address.
    return request.remote_addr or "unknown"


def _page(template: str, status: int = 200, **context: object) -> Response:
    response = make_response(render_template(template, status_text=status_text, **context))
    response.status_code = status
    response.headers["Cache-Control"] = "no-store"
    return response


def _limited(exc: RateLimitedError, number: str = "") -> Response:
    minutes = max(1, math.ceil(exc.retry_after_s / 60))
    return _page("tracking/limited.html", 429, minutes=minutes, number=number)


@bp.get("")
def start() -> Response:
    """The form: petition number (prefilled from ``?number=``, as on the receipt's QR code)."""
    return _page("tracking/start.html", number=request.args.get("number", "")[:48], phone="")


@bp.post("")
def send_code() -> Response:
    """Check the pair and the limits, send a code if they match, ask for the code either way."""
    number_text = request.form.get("number", "")[:64]
    phone_text = request.form.get("phone", "")[:32]
    try:
        number, ticket = service.start(
            number_text,
            phone_text,
            ip=_client_ip(),
            otp=otp_service(),
            limits=_limits(),
            language=current_language(),
        )
    except TrackingInputError as exc:
        return _page(
            "tracking/start.html", 400, number=number_text, phone=phone_text, error=exc.field
        )
    except RateLimitedError as exc:
        return _limited(exc, number_text)
    session.pop(_GRANTED, None)
    session[_PENDING] = {
        "ticket": ticket.id,
        "number": number,
        "phone": mask_phone(service.normalize_phone(phone_text)),
    }
    return redirect(url_for("tracking.code"), code=303)


@bp.get("/code")
def code() -> Response:
    """The code form."""
    pending = session.get(_PENDING)
    if not pending:
        return redirect(url_for("tracking.start"), code=303)
    return _page("tracking/code.html", pending=pending)


@bp.post("/code")
def check_code() -> Response:
    """Verify the code; on success grant the history for a few minutes."""
    pending = session.get(_PENDING)
    if not pending:
        return redirect(url_for("tracking.start"), code=303)
    otp = otp_service()
    try:
        ok = service.verify(
            pending["ticket"],
            request.form.get("code", "")[:16],
            number=pending["number"],
            ip=_client_ip(),
            otp=otp,
            limits=_limits(),
        )
    except RateLimitedError as exc:
        return _limited(exc, pending["number"])
    except OtpAttemptsExceededError:
        session.pop(_PENDING, None)
        return _page("tracking/start.html", 400, number=pending["number"], phone="", error="burnt")
    except OtpExpiredError:
        session.pop(_PENDING, None)
        return _page(
            "tracking/start.html", 400, number=pending["number"], phone="", error="expired"
        )
    if not ok:
        left = otp.attempts_left(pending["ticket"])
        return _page("tracking/code.html", 400, pending=pending, error="wrong", left=left)
    session.pop(_PENDING, None)
    until = utc_now() + GRANT
    session[_GRANTED] = {"number": pending["number"], "until": until.timestamp()}
    return redirect(url_for("tracking.status"), code=303)


@bp.get("/status")
def status() -> Response:
    """The history of the petition this browser verified, while the grant lasts."""
    granted = session.get(_GRANTED)
    if not granted or granted["until"] < utc_now().timestamp():
        session.pop(_GRANTED, None)
        return redirect(url_for("tracking.start"), code=303)
    steps = service.status_history(granted["number"])
    return _page("tracking/status.html", number=granted["number"], steps=steps)


@bp.post("/done")
def done() -> Response:
    """Forget the grant (a shared computer)."""
    session.pop(_GRANTED, None)
    session.pop(_PENDING, None)
    return redirect(url_for("tracking.start"), code=303)
