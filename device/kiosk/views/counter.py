"""Counter mode's screens: the officer's login, the one-tap logout, the page heartbeat, and
seed 003's system information with the conditions of use."""

from __future__ import annotations

from datetime import datetime

from flask import Blueprint, Response, redirect, request, url_for

from device.kiosk.counter import CounterError
from device.kiosk.views.common import kiosk, render

bp = Blueprint("counter", __name__, url_prefix="/<lang>/counter")

#: Seed 003's conditions of use, in its order (``counter.condition.<n>`` in the catalogues).
CONDITIONS = tuple(range(1, 8))


@bp.get("/login")
def login() -> str | Response:
    """Username and password (on-screen keyboard)."""
    state = kiosk()
    if state.counter is None or state.counter.officer is not None:
        return redirect(url_for("home.index"))
    return render("counter/login.html", page="counter-login", error=request.args.get("error"))


@bp.post("/login")
def submit() -> Response:
    state = kiosk()
    if state.counter is None:
        return redirect(url_for("home.index"))
    username = request.form.get("username", "").strip()
    password = request.form.get("password", "")
    try:
        state.counter.login(username, password)
    except CounterError as exc:
        return redirect(url_for("counter.login", error=exc.code))
    return redirect(url_for("home.index"))


@bp.get("/about")
def about() -> str | Response:
    """Seed 003's "system information": who is logged in, since when, at which station;
    what the system is for and the conditions the officer accepted."""
    state = kiosk()
    if state.counter is None or state.counter.officer is None:
        return redirect(url_for("counter.login"))
    return render(
        "counter/about.html",
        page="counter-about",
        now=datetime.now().astimezone(),
        station_id=state.station.config.station_id,
        conditions=CONDITIONS,
    )


@bp.post("/logout")
def logout() -> Response:
    """One tap: the resident's screen is cleared and the officer is logged out."""
    state = kiosk()
    if state.visit is not None:
        state.end(state.visit.token, reason="officer_logout")
    if state.counter is not None:
        state.counter.logout()
    return redirect(url_for("counter.login"))


@bp.post("/heartbeat")
def heartbeat() -> Response:
    """The officer's page is open (static/counter.js)."""
    state = kiosk()
    alive = state.counter is not None and state.counter.touch()
    return Response(status=204 if alive else 401)
