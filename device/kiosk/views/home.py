"""The home screen, the utilities of seed 002, the display mode and the card's photo."""

from __future__ import annotations

from flask import Blueprint, Response, abort, g, redirect, request, url_for

from device.kiosk.views.common import kiosk, render

bp = Blueprint("home", __name__)

#: Seed 002's utility services, in the order of the home screen.
UTILITIES = ("bills", "health_insurance", "checkup")
#: The screen each utility opens.
LIVE_UTILITIES = {
    "bills": "bills.start",
    "health_insurance": "bills.insurance",
    "checkup": "checkup.start",
}


@bp.get("/")
def root() -> Response:
    """The next resident starts in the default language with the normal display."""
    response = redirect(url_for("home.index", lang=kiosk().config.default_language))
    response.delete_cookie("display")
    return response


@bp.get("/<lang>/")
def index() -> Response | str:
    """Insert your card; the services; what works offline."""
    state = kiosk()
    visit = state.visit
    if visit is not None and visit.card_visit and visit.state in ("reading", "ready"):
        return redirect(url_for("insured.summary"))
    card_error = visit is not None and visit.state == "card_error"
    # An ended card visit with the card still in: say why it ended and offer to start again.
    ended = visit is not None and visit.card_visit and visit.state == "ended"
    board = state.station.notices
    notices = board.current() if board is not None else []
    return render(
        "home.html",
        page="home",
        utilities=UTILITIES,
        live_utilities=LIVE_UTILITIES,
        notices=[(n.notice_id, n.texts.get(g.lang) or n.texts["en"]) for n in notices],
        card_error=card_error,
        ended_reason=(visit.end_reason or "finished") if ended and visit is not None else None,
    )


@bp.post("/<lang>/start-again")
def start_again() -> Response:
    """A new visit with the card still in, in the language the last one was in."""
    if kiosk().start_again() is None:
        return redirect(url_for("home.index"))
    return redirect(url_for("insured.summary"))


@bp.get("/<lang>/display/<mode>")
def display(mode: str) -> Response:
    """Large text and high contrast on or off, then back to the same screen."""
    target = request.args.get("next", "")
    if not is_local_path(target):
        target = url_for("home.index", lang=g.lang)
    response = redirect(target)
    if mode == "large":
        response.set_cookie("display", "large", samesite="Strict", httponly=True)
    else:
        response.delete_cookie("display")
    return response


def is_local_path(target: str) -> bool:
    """A path on this kiosk that no browser reads as another host: one leading ``/``, no
    backslash (read as ``/``) and no control character (tabs and newlines are dropped)."""
    return (
        target.startswith("/")
        and not target.startswith("//")
        and "\\" not in target
        and not any(ord(char) < 0x20 or ord(char) == 0x7F for char in target)
    )


@bp.get("/photo/<token>")
def photo(token: str) -> Response:
    """The card's photo, from memory, only for the visit it belongs to."""
    visit = kiosk().check(token)
    if visit.photo is None:
        abort(404)
    return Response(visit.photo, mimetype="image/jpeg", headers={"Cache-Control": "no-store"})
