"""Flow 4, petitions and data-correction requests (seeds 004 and 002), offline first.

Service → mobile number → 6-digit code from OSS-LOCAL → the form → filed. The number is
minted on the station and the petition and its receipt are committed together, so the
screen and the receipt are final even offline. Offline policy (docs/kiosk.md): the code
needs the server, so offline a petition can be filed only with an ID card in the reader
(the card stands in for the code; the petition is marked ``phone_check = card_offline``);
without a card the screen says it needs the network and offers nothing else.

The card never replaces the code silently: it is the resident's choice ("continue with my
ID card") offered when the station is offline or the code could not be sent. A code that
could not be sent is said at once ("the server cannot be reached"), and the request is
never sent later (docs/kiosk.md "Network honesty").
"""

from __future__ import annotations

import re

from flask import Blueprint, Response, g, redirect, request, url_for

from contract.identifiers import InvalidThaiMobileError, normalize_thai_mobile
from device.errors import LookupTimeoutError, ServerUnavailableError
from device.kiosk.views.common import kiosk, render, visit_from_form

bp = Blueprint("petition", __name__, url_prefix="/<lang>/petition")

SERVICES = ("general_petition", "population_correction")
#: The form's fields per service (keys of the contract's ``form``), each at most 4,000 chars.
FIELDS = {
    "general_petition": ("subject", "details"),
    "population_correction": ("item", "correct_value", "details"),
}


def _flow():  # type: ignore[no-untyped-def]
    visit = kiosk().open_visit()
    return visit, visit.flows.setdefault("petition", {})


@bp.get("/")
def start() -> str:
    """Choose the service; what works offline is said here, before anything is typed."""
    visit, _ = _flow()
    return render(
        "petition/start.html",
        visit=visit,
        page="petition-start",
        services=SERVICES,
        has_card=visit.card_visit,
    )


@bp.post("/")
def choose() -> Response:
    visit = visit_from_form()
    service = request.form.get("service")
    if service not in SERVICES:
        return redirect(url_for("petition.start"))
    visit.flows["petition"] = {"service": service}
    return redirect(url_for("petition.phone"))


@bp.get("/phone")
def phone() -> Response | str:
    """The mobile number the code goes to (and the SMS with the petition number)."""
    visit, flow = _flow()
    if "service" not in flow:
        return redirect(url_for("petition.start"))
    return render(
        "petition/phone.html",
        visit=visit,
        page="petition-phone",
        error=flow.pop("error", None),
        has_card=visit.card_visit,
        unreachable=flow.get("unreachable", False),
        phone_number=flow.get("phone", ""),
    )


@bp.post("/phone")
def send_code() -> Response | str:
    visit = visit_from_form()
    flow = visit.flows.setdefault("petition", {})
    try:
        number = normalize_thai_mobile(request.form.get("phone", ""))
    except InvalidThaiMobileError:
        flow["error"] = "bad_phone"
        return redirect(url_for("petition.phone"))
    flow["phone"] = number
    services = kiosk().services
    if request.form.get("intent") == "card" and _card_allowed(visit, flow, services.online):
        flow["phone_check"] = "card_offline"
        return redirect(url_for("petition.form"))
    try:
        answer = services.ask("otp.send", purpose="petition", phone=number)
    except (ServerUnavailableError, LookupTimeoutError):
        # Said at once, never skipped: the resident chooses what is allowed offline.
        flow["error"] = "server_unreachable"
        flow["unreachable"] = True
        return redirect(url_for("petition.phone"))
    flow.pop("unreachable", None)
    if answer.status != "ok":
        flow["error"] = answer.status
        return redirect(url_for("petition.phone"))
    flow["ticket"] = answer.ticket
    return redirect(url_for("petition.code"))


@bp.get("/code")
def code() -> Response | str:
    """The 6-digit code from OSS-LOCAL."""
    visit, flow = _flow()
    if "ticket" not in flow:
        return redirect(url_for("petition.phone"))
    return render(
        "code.html",
        visit=visit,
        page="petition-code",
        error=flow.pop("error", None),
        action=url_for("petition.check_code"),
        masked=_mask(flow["phone"]),
    )


@bp.post("/code")
def check_code() -> Response:
    visit = visit_from_form()
    flow = visit.flows.setdefault("petition", {})
    try:
        answer = kiosk().services.ask(
            "otp.check", purpose="petition", ticket=flow.get("ticket"), code=_digits()
        )
    except (ServerUnavailableError, LookupTimeoutError):
        flow["error"] = "server_unreachable"
        return redirect(url_for("petition.code"))
    if answer.status == "ok":
        flow["phone_check"] = "otp"
        return redirect(url_for("petition.form"))
    flow["error"] = answer.status
    if answer.status == "expired":
        flow.pop("ticket", None)
        return redirect(url_for("petition.phone"))
    return redirect(url_for("petition.code"))


@bp.get("/form")
def form() -> Response | str:
    """The petition itself."""
    visit, flow = _flow()
    if "phone_check" not in flow:
        return redirect(url_for("petition.phone"))
    return render(
        "petition/form.html",
        visit=visit,
        page="petition-form",
        service=flow["service"],
        fields=FIELDS[flow["service"]],
        error=flow.pop("error", None),
    )


@bp.post("/form")
def submit() -> Response:
    """File it: number, petition and receipt in one commit; then the screen says done."""
    visit = visit_from_form()
    flow = visit.flows.setdefault("petition", {})
    if "phone_check" not in flow:
        return redirect(url_for("petition.phone"))
    service = flow["service"]
    form = {name: request.form.get(name, "").strip()[:4000] for name in FIELDS[service]}
    if not any(form.values()):
        flow["error"] = "empty_form"
        return redirect(url_for("petition.form"))
    form["phone_check"] = flow["phone_check"]
    state = kiosk()
    citizen_id = visit.card.citizen_id if visit.card is not None else None
    number = state.station.file_petition(
        service,
        flow["phone"],
        form,
        citizen_id,
        receipt=state.station.hardware is not None and state.station.hardware.printer is not None,
        language=g.lang,  # the SMS with the number and the tracking link come in it
    )
    # What was typed leaves memory; the number and the check stay for the last screen.
    visit.flows["petition"] = {
        "done": number,
        "service": service,
        "offline": flow["phone_check"] == "card_offline",
    }
    return redirect(url_for("petition.done"))


@bp.get("/done")
def done() -> Response | str:
    """The petition number, final; the receipt prints; the SMS follows when the server has it."""
    visit, flow = _flow()
    if "done" not in flow:
        return redirect(url_for("petition.start"))
    return render(
        "petition/done.html",
        visit=visit,
        page="petition-done",
        number=flow["done"],
        offline=flow["offline"],
        printer=kiosk().station.hardware is not None,
    )


def _card_allowed(visit, flow: dict, online: bool) -> bool:  # type: ignore[no-untyped-def]
    """The offline policy: the card stands in for the code only with a card in the reader,
    and only when the code cannot be had (the station is offline, or the server did not
    answer the last try)."""
    return visit.card_visit and (not online or flow.get("unreachable", False))


def _digits() -> str:
    return re.sub(r"\D", "", request.form.get("code", ""))[:6]


def _mask(phone: str) -> str:
    return f"{phone[:3]}-XXX-{phone[-4:]}"
