"""Seed 002's medical check-up with telemedicine, for the card holder.

The card is the proof of identity: the flow works only in a card visit, and asks the server
(``checkup.*`` service actions) with the citizen id read from the card, never a typed one.
It needs the network (the clinic's slots live there); offline the screen says so. Free
slots → tap one → booked: the time in the clinic's local time, the video-call link, and an
SMS with both to the phone on file. A booked check-up can be cancelled here (SMS again).
"""

from __future__ import annotations

from itertools import groupby

from flask import Blueprint, Response, g, redirect, request, url_for

from device.errors import LookupTimeoutError, ServerUnavailableError
from device.kiosk.i18n import local_day
from device.kiosk.views.common import kiosk, render, visit_from_form

bp = Blueprint("checkup", __name__, url_prefix="/<lang>/checkup")

_OFFLINE = (ServerUnavailableError, LookupTimeoutError)
#: What the screen can explain (``checkup.error.<code>``); another code says "try again".
ERRORS = frozenset(
    f"checkup.error.{code}"
    for code in (
        "not_card_holder",
        "no_phone",
        "slot_taken",
        "already_booked",
        "no_booking",
        "no_clinic",
        "clinic_unavailable",
        "needs_network",
        "rate_limited",
        "station_quarantined",
    )
)


def _refusal(answer) -> str:  # type: ignore[no-untyped-def]
    """The code the screen explains (``checkup.error.<code>``)."""
    if answer.status == "refused" and answer.reason:
        return answer.reason
    return answer.reason if answer.reason == "clinic_unavailable" else answer.status


@bp.get("/")
def start() -> Response | str:
    """The card holder's booking, or the free slots to choose from."""
    state = kiosk()
    visit = state.card_visit()
    if visit is None or visit.card is None:
        return render("checkup/start.html", page="checkup-card", needs_card=True)
    flow = visit.flows.setdefault("checkup", {})
    citizen_id = visit.card.citizen_id
    context = {"error": flow.pop("error", None), "cancelled": flow.pop("cancelled", None)}
    try:
        mine = state.services.ask("checkup.mine", citizen_id=citizen_id)
        bookings = mine.bookings if mine.status == "ok" else []
        slots = []
        if mine.status == "ok" and not bookings:
            answer = state.services.ask("checkup.slots", citizen_id=citizen_id)
            slots = answer.slots if answer.status == "ok" else []
            if answer.status != "ok":
                context["error"] = _refusal(answer)
        elif mine.status != "ok":
            context["error"] = _refusal(mine)
    except _OFFLINE:
        return render("checkup/start.html", visit=visit, page="checkup", offline=True)
    days = [
        (day, list(group)) for day, group in groupby(slots, key=lambda s: local_day(s.starts_at))
    ]
    return render(
        "checkup/start.html",
        visit=visit,
        page="checkup",
        bookings=bookings,
        days=days,
        checkup_errors=ERRORS,
        **context,
    )


@bp.post("/book")
def book() -> Response:
    """Book the slot tapped, for the card holder."""
    visit = visit_from_form()
    flow = visit.flows.setdefault("checkup", {})
    if visit.card is None:
        return redirect(url_for("checkup.start"))
    try:
        answer = kiosk().services.ask(
            "checkup.book",
            citizen_id=visit.card.citizen_id,
            slot=request.form.get("slot") or None,
            language=g.lang,  # the SMS comes in the resident's language
        )
    except _OFFLINE:
        flow["error"] = "needs_network"
        return redirect(url_for("checkup.start"))
    except ValueError:  # not a slot id the contract accepts: a forged form
        return redirect(url_for("checkup.start"))
    if answer.status != "ok" or not answer.bookings:
        flow["error"] = _refusal(answer)
        return redirect(url_for("checkup.start"))
    flow["booked"] = answer.bookings[0]
    return redirect(url_for("checkup.done"))


@bp.get("/done")
def done() -> Response | str:
    """Booked: when, the video-call link, where the SMS went."""
    visit = kiosk().card_visit()
    flow = visit.flows.get("checkup", {}) if visit is not None else {}
    if visit is None or "booked" not in flow:
        return redirect(url_for("checkup.start"))
    return render("checkup/done.html", visit=visit, page="checkup-done", booking=flow["booked"])


@bp.post("/cancel")
def cancel() -> Response:
    """Cancel the card holder's booking."""
    visit = visit_from_form()
    flow = visit.flows.setdefault("checkup", {})
    if visit.card is None:
        return redirect(url_for("checkup.start"))
    try:
        answer = kiosk().services.ask(
            "checkup.cancel",
            citizen_id=visit.card.citizen_id,
            booking=request.form.get("booking") or None,
            language=g.lang,
        )
    except _OFFLINE:
        flow["error"] = "needs_network"
        return redirect(url_for("checkup.start"))
    except ValueError:
        return redirect(url_for("checkup.start"))
    if answer.status != "ok" or not answer.bookings:
        flow["error"] = _refusal(answer)
    else:
        flow.pop("booked", None)
        flow["cancelled"] = answer.bookings[0]
    return redirect(url_for("checkup.start"))
