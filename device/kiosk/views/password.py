"""Flow 2, the insurance e-account password reset (seed 000), with the card in the reader.

Insurance number + the phone registered on the account; on a match the server texts a code to
that phone (possession, as the hotline's caller id proves it) and, once it is typed, issues a
temporary password that must be changed at the next login. The password is shown on this
screen only: never printed (the receipt layer refuses it), logged or stored by the station;
it leaves memory with the visit. On no match, seed 000's message. Needs the server.
"""

from __future__ import annotations

import re

from flask import Blueprint, Response, jsonify, redirect, request, url_for

from contract.identifiers import InvalidThaiMobileError, normalize_thai_mobile
from device.errors import LookupTimeoutError, ServerUnavailableError
from device.kiosk import speech
from device.kiosk.views.common import kiosk, render, visit_from_form

bp = Blueprint("password", __name__, url_prefix="/<lang>/password")

_OFFLINE = (ServerUnavailableError, LookupTimeoutError)


def _card_visit():  # type: ignore[no-untyped-def]
    visit = kiosk().card_visit()
    if visit is None or visit.card is None:
        return None, None
    return visit, visit.flows.setdefault("password", {})


@bp.get("/")
def start() -> Response | str:
    """Insurance number and the registered phone."""
    visit, flow = _card_visit()
    if visit is None:
        return redirect(url_for("home.index"))
    return render(
        "password/start.html",
        visit=visit,
        page="password-start",
        error=flow.pop("error", None),
        # The e-account's number is the citizen id: filled in from the card (still editable),
        # or what the resident typed before a refusal.
        insurance_number=flow.get("typed_insurance") or grouped_citizen_id(visit.card.citizen_id),
        from_card=not flow.get("typed_insurance"),
        phone=flow.get("typed_phone", ""),
    )


def grouped_citizen_id(citizen_id: str) -> str:
    """A citizen id as the card prints it: ``1-2345-67890-12-3``."""
    c = citizen_id
    return f"{c[:1]}-{c[1:5]}-{c[5:10]}-{c[10:12]}-{c[12:]}" if len(c) == 13 else c


@bp.post("/")
def send_code() -> Response:
    visit = visit_from_form()
    flow = visit.flows.setdefault("password", {})
    # Kept for the form if this attempt is refused, so nothing has to be typed twice.
    flow["typed_insurance"] = request.form.get("insurance_number", "")[:17]
    flow["typed_phone"] = request.form.get("phone", "")[:12]
    insurance = re.sub(r"\D", "", request.form.get("insurance_number", ""))
    try:
        phone = normalize_thai_mobile(request.form.get("phone", ""))
    except InvalidThaiMobileError:
        phone = None
    if len(insurance) != 13 or phone is None:
        flow["error"] = "no_match"
        return redirect(url_for("password.start"))
    try:
        answer = kiosk().services.ask(
            "password.start",
            citizen_id=visit.card.citizen_id,
            insurance_number=insurance,
            phone=phone,
        )
    except _OFFLINE:
        flow["error"] = "needs_network"
        return redirect(url_for("password.start"))
    if answer.status != "ok":
        flow["error"] = answer.status
        return redirect(url_for("password.start"))
    flow.update(insurance=insurance, phone=phone, ticket=answer.ticket)
    return redirect(url_for("password.code"))


@bp.get("/code")
def code() -> Response | str:
    visit, flow = _card_visit()
    if visit is None or "ticket" not in flow:
        return redirect(url_for("password.start"))
    return render(
        "code.html",
        visit=visit,
        page="password-code",
        error=flow.pop("error", None),
        action=url_for("password.reset"),
        masked=f"{flow['phone'][:3]}-XXX-{flow['phone'][-4:]}",
    )


@bp.post("/code")
def reset() -> Response:
    visit = visit_from_form()
    flow = visit.flows.setdefault("password", {})
    try:
        answer = kiosk().services.ask(
            "password.reset",
            citizen_id=visit.card.citizen_id,
            insurance_number=flow.get("insurance"),
            phone=flow.get("phone"),
            ticket=flow.get("ticket"),
            code=re.sub(r"\D", "", request.form.get("code", ""))[:6],
        )
    except _OFFLINE:
        flow["error"] = "needs_network"
        return redirect(url_for("password.code"))
    if answer.status != "ok":
        flow["error"] = "wrong_code" if answer.status == "refused" else answer.status
        return redirect(
            url_for("password.start" if answer.status == "expired" else "password.code")
        )
    visit.flows["password"] = {"temporary": answer.temporary_password}
    return redirect(url_for("password.done"))


@bp.get("/done")
def done() -> Response | str:
    """The temporary password, on screen only, with the reminder."""
    visit, flow = _card_visit()
    if visit is None or "temporary" not in flow:
        return redirect(url_for("password.start"))
    return render(
        "password/done.html",
        visit=visit,
        page="password-done",
        password=flow["temporary"],
        can_read_aloud=kiosk().config.read_aloud and speech.available(),
    )


@bp.post("/read-aloud")
def read_aloud() -> Response:
    """Spell the password through the headphone jack (espeak-ng), nothing written anywhere.

    Answers when the speech has ended: the page shows "reading aloud..." meanwhile and then
    "finished" (or that it could not), from the JSON answer; without script, the screen again.
    """
    visit = visit_from_form()
    password = visit.flows.get("password", {}).get("temporary")
    spoken = False
    if password and speech.available() and kiosk().config.read_aloud:
        from flask import g

        spoken = speech.speak(speech.spell(password), g.lang)  # on stdin, never on a command line
    if request.accept_mimetypes.best == "application/json":
        return jsonify(spoken=spoken)
    return redirect(url_for("password.done"))
