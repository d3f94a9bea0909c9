"""The live channel to the page: server-sent events, the visit's keep-alive and end, and the
page's own heartbeat (the browser watchdog, ``device/browser``, restarts Chromium when it stops).
"""

from __future__ import annotations

from flask import Blueprint, Response, jsonify, request

from device.kiosk.views.common import VisitGoneError, kiosk

bp = Blueprint("stream", __name__)


@bp.get("/events")
def events() -> Response:
    """``text/event-stream``: the visit's state and the printer's, first now, then changes."""
    state = kiosk()
    return Response(
        state.bus.stream(state.status()),
        mimetype="text/event-stream",
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )


@bp.post("/visit/extend")
def extend() -> Response:
    """The resident is still there (a tap, or "more time" on the countdown)."""
    try:
        kiosk().check(request.form.get("visit"))
    except VisitGoneError:
        return jsonify(ok=False), 409
    return jsonify(ok=True)


@bp.post("/visit/more-time")
def more_time() -> Response:
    """ "More time": every timeout of this visit grows (the page learns the new ones)."""
    state = kiosk()
    try:
        visit = state.more_time(request.form.get("visit"))
    except VisitGoneError:
        return jsonify(ok=False), 409
    return jsonify(
        ok=True,
        idle_s=state.idle_timeout_s(visit),
        countdown_s=state.config.countdown_s * visit.patience,
        patience=visit.patience,
    )


@bp.post("/listen")
def listen() -> Response:
    """ "Listen": say the screen's heading and main instruction in its language."""
    spoken = kiosk().guide.say(request.form.get("text", ""), request.form.get("lang", ""))
    return jsonify(spoken=spoken), 200 if spoken else 409


@bp.post("/visit/end")
def end() -> Response:
    """End the visit: "finish" tapped, or the idle countdown ran out."""
    reason = request.form.get("reason", "finished")
    kiosk().end(request.form.get("visit"), "timeout" if reason == "timeout" else "finished")
    return jsonify(ok=True)


@bp.post("/alive")
def alive() -> Response:
    """The page is running its script: a crashed renderer or a hung page stops sending this."""
    kiosk().page_alive()
    return jsonify(ok=True)


@bp.get("/alive")
def alive_age() -> Response:
    """Seconds since the page last said it was alive (``null``: never since the daemon started)."""
    return jsonify(age_s=kiosk().page_alive_age())
