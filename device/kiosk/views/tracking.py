"""Tracking petitions (seed 004): by card on this station, or by number + the same mobile
number with a code. Both need the server (the status lives there); offline the screen says so.
A status can be printed (a ``petition.status`` receipt: number, status, date, tracking QR)."""

from __future__ import annotations

import re

from flask import Blueprint, Response, redirect, request, url_for

from contract.identifiers import (
    InvalidPetitionNumberError,
    InvalidThaiMobileError,
    normalize_petition_number,
    normalize_thai_mobile,
)
from device.errors import LookupTimeoutError, ServerUnavailableError
from device.kiosk.views.common import kiosk, render, visit_from_form
from hardware.printer import Receipt

bp = Blueprint("tracking", __name__, url_prefix="/<lang>/track")

_OFFLINE = (ServerUnavailableError, LookupTimeoutError)


@bp.get("/")
def start() -> str:
    """Petition number and mobile number."""
    visit = kiosk().open_visit()
    flow = visit.flows.setdefault("tracking", {})
    return render(
        "tracking/start.html",
        visit=visit,
        page="track-start",
        error=flow.pop("error", None),
    )


@bp.post("/")
def send_code() -> Response:
    visit = visit_from_form()
    flow = visit.flows.setdefault("tracking", {})
    try:
        phone = normalize_thai_mobile(request.form.get("phone", ""))
    except InvalidThaiMobileError:
        flow["error"] = "bad_phone"
        return redirect(url_for("tracking.start"))
    try:
        number = normalize_petition_number(request.form.get("number", ""))
    except InvalidPetitionNumberError:
        flow["error"] = "bad_number"
        return redirect(url_for("tracking.start"))
    try:
        answer = kiosk().services.ask("track.start", number=number, phone=phone)
    except _OFFLINE:
        flow["error"] = "server_unreachable"
        return redirect(url_for("tracking.start"))
    if answer.status != "ok":
        flow["error"] = answer.reason if answer.status == "refused" else answer.status
        return redirect(url_for("tracking.start"))
    flow.update(number=number, phone=phone, ticket=answer.ticket)
    return redirect(url_for("tracking.code"))


@bp.get("/code")
def code() -> Response | str:
    visit = kiosk().open_visit()
    flow = visit.flows.setdefault("tracking", {})
    if "ticket" not in flow:
        return redirect(url_for("tracking.start"))
    return render(
        "code.html",
        visit=visit,
        page="track-code",
        error=flow.pop("error", None),
        action=url_for("tracking.check_code"),
        masked=f"{flow['phone'][:3]}-XXX-{flow['phone'][-4:]}",
    )


@bp.post("/code")
def check_code() -> Response:
    visit = visit_from_form()
    flow = visit.flows.setdefault("tracking", {})
    code_text = re.sub(r"\D", "", request.form.get("code", ""))[:6]
    try:
        answer = kiosk().services.ask(
            "track.check",
            number=flow.get("number"),
            phone=flow.get("phone"),
            ticket=flow.get("ticket"),
            code=code_text,
        )
    except _OFFLINE:
        flow["error"] = "server_unreachable"
        return redirect(url_for("tracking.code"))
    if answer.status != "ok":
        flow["error"] = "wrong_code" if answer.status == "refused" else answer.status
        if answer.status == "expired":
            return redirect(url_for("tracking.start"))
        return redirect(url_for("tracking.code"))
    flow["petitions"] = answer.petitions
    return redirect(url_for("tracking.status"))


@bp.get("/status")
def status() -> Response | str:
    """The status history of the petition(s) found."""
    visit = kiosk().open_visit()
    flow = visit.flows.get("tracking", {})
    if "petitions" not in flow:
        return redirect(url_for("tracking.start"))
    return render(
        "tracking/status.html",
        visit=visit,
        page="track-status",
        petitions=flow["petitions"],
        printed=flow.pop("printed", None),
    )


@bp.get("/mine")
def mine() -> Response | str:
    """The card holder's petitions (the card is the proof of identity)."""
    state = kiosk()
    visit = state.card_visit()
    if visit is None or visit.card is None:
        return redirect(url_for("home.index"))
    flow = visit.flows.setdefault("tracking", {})
    try:
        answer = state.services.ask("petitions.mine", citizen_id=visit.card.citizen_id)
    except _OFFLINE:
        return render(
            "tracking/status.html",
            visit=visit,
            page="track-mine",
            offline=True,
            error="server_unreachable",
        )
    flow["petitions"] = answer.petitions if answer.status == "ok" else []
    return render(
        "tracking/status.html",
        visit=visit,
        page="track-mine",
        petitions=flow["petitions"],
        printed=flow.pop("printed", None),
    )


@bp.post("/print")
def print_status() -> Response:
    """Print where a petition stands (number, status, date, tracking QR; nothing personal)."""
    visit = visit_from_form()
    flow = visit.flows.get("tracking", {})
    number = request.form.get("number")
    chosen = [p for p in flow.get("petitions", []) if p.number == number]
    state = kiosk()
    if chosen and state.station.hardware is not None and state.station.hardware.printer:
        petition = chosen[0]
        from device.kiosk.receipts import status_receipt

        receipt: Receipt = status_receipt(state.station, petition)
        state.station.receipts.queue("petition.status", receipt)
        flow["printed"] = number
    back = request.form.get("back") == "mine"
    return redirect(url_for("tracking.mine" if back else "tracking.status"))
