"""Flow 3, the electronic identity account, level 1 (seed 001), with the card in the reader.

The card's data is shown for confirmation (id, name, sex, date of birth, address); the
resident gives a phone and an optional e-mail, types the code texted to the phone and sets a
password (with a strength meter); the server creates the level-1 account when the declared
data matches the population register. A parent or guardian registers a child under 14 with
their own card in the reader (their own account must exist). Level 2 is explained: in
person, with biometrics, at the police station. Needs the server.
"""

from __future__ import annotations

import re

from flask import Blueprint, Response, redirect, request, url_for

from contract import DeclaredIdentity
from contract.identifiers import InvalidThaiMobileError, normalize_citizen_id, normalize_thai_mobile
from contract.local_time import parse_day
from device.errors import LookupTimeoutError, ServerUnavailableError
from device.kiosk.views.common import kiosk, render, visit_from_form

bp = Blueprint("eid", __name__, url_prefix="/<lang>/eid")

_OFFLINE = (ServerUnavailableError, LookupTimeoutError)
_EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s]{1,189}\.[^@\s]{2,}$")


def _card_visit():  # type: ignore[no-untyped-def]
    visit = kiosk().card_visit()
    if visit is None or visit.card is None:
        return None, None
    return visit, visit.flows.setdefault("eid", {})


@bp.get("/")
def start() -> Response | str:
    """The card's data for confirmation; for me, or for my child under 14."""
    visit, flow = _card_visit()
    if visit is None:
        return redirect(url_for("home.index"))
    return render(
        "eid/start.html",
        visit=visit,
        page="eid-start",
        card=visit.card,
        error=flow.pop("error", None),
    )


@bp.post("/")
def choose() -> Response:
    visit = visit_from_form()
    flow = visit.flows.setdefault("eid", {})
    card = visit.card
    guardian = request.form.get("for") == "child"
    if guardian:
        try:
            child = _child_from_form()
        except ValueError:
            flow["error"] = "bad_child"
            return redirect(url_for("eid.start"))
        declared = child
    else:
        declared = DeclaredIdentity(
            citizen_id=card.citizen_id,
            first_th=card.name_th.first,
            last_th=card.name_th.last,
            date_of_birth=card.date_of_birth,
        )
    visit.flows["eid"] = {"declared": declared, "guardian": guardian}
    return redirect(url_for("eid.contact"))


def _child_from_form() -> DeclaredIdentity:
    # A mistyped id (its check digit) is a ValueError too, answered like a missing field.
    citizen_id = normalize_citizen_id(request.form.get("child_id", ""))
    first = request.form.get("child_first", "").strip()
    last = request.form.get("child_last", "").strip()
    if not first or not last:
        raise ValueError("incomplete")
    # The year in the deployment's calendar, as the label asks, or in the other era.
    born = parse_day(request.form.get("child_dob", ""))
    return DeclaredIdentity(citizen_id=citizen_id, first_th=first, last_th=last, date_of_birth=born)


@bp.get("/contact")
def contact() -> Response | str:
    visit, flow = _card_visit()
    if visit is None or "declared" not in flow:
        return redirect(url_for("eid.start"))
    return render(
        "eid/contact.html", visit=visit, page="eid-contact", error=flow.pop("error", None)
    )


@bp.post("/contact")
def send_code() -> Response:
    visit = visit_from_form()
    flow = visit.flows.setdefault("eid", {})
    email = request.form.get("email", "").strip() or None
    try:
        phone = normalize_thai_mobile(request.form.get("phone", ""))
    except InvalidThaiMobileError:
        phone = None
    if phone is None or (email and not _EMAIL.match(email)):
        flow["error"] = "bad_phone"
        return redirect(url_for("eid.contact"))
    try:
        answer = kiosk().services.ask(
            "eid.start", citizen_id=visit.card.citizen_id, phone=phone, guardian=flow["guardian"]
        )
    except _OFFLINE:
        flow["error"] = "needs_network"
        return redirect(url_for("eid.contact"))
    if answer.status != "ok":
        flow["error"] = answer.reason if answer.status == "refused" else answer.status
        return redirect(url_for("eid.contact"))
    flow.update(phone=phone, email=email, ticket=answer.ticket)
    return redirect(url_for("eid.finish"))


@bp.get("/finish")
def finish() -> Response | str:
    """The code and the password (with its strength meter)."""
    visit, flow = _card_visit()
    if visit is None or "ticket" not in flow:
        return redirect(url_for("eid.contact"))
    return render(
        "eid/finish.html",
        visit=visit,
        page="eid-finish",
        error=flow.pop("error", None),
        masked=f"{flow['phone'][:3]}-XXX-{flow['phone'][-4:]}",
        # A refused attempt (passwords that differ or are too weak, a mistyped code) keeps
        # the code that was typed: only the passwords are asked again, never echoed back.
        code=flow.get("typed_code", ""),
    )


@bp.post("/finish")
def register() -> Response:
    visit = visit_from_form()
    flow = visit.flows.setdefault("eid", {})
    flow["typed_code"] = re.sub(r"\D", "", request.form.get("code", ""))[:6]
    password = request.form.get("password", "")
    if password != request.form.get("password_again", ""):
        flow["error"] = "password_mismatch"
        return redirect(url_for("eid.finish"))
    if len(password) < 8 or not re.search(r"[A-Za-z]", password) or not re.search(r"\d", password):
        flow["error"] = "weak_password"
        return redirect(url_for("eid.finish"))
    declared = flow["declared"]
    if flow.get("email"):
        declared = DeclaredIdentity(
            citizen_id=declared.citizen_id,
            first_th=declared.first_th,
            last_th=declared.last_th,
            date_of_birth=declared.date_of_birth,
            email=flow["email"],
        )
    try:
        answer = kiosk().services.ask(
            "eid.register",
            citizen_id=visit.card.citizen_id,
            phone=flow.get("phone"),
            ticket=flow.get("ticket"),
            code=re.sub(r"\D", "", request.form.get("code", ""))[:6],
            declared=declared,
            guardian=flow["guardian"],
            password=password,
        )
    except _OFFLINE:
        flow["error"] = "needs_network"
        return redirect(url_for("eid.finish"))
    if answer.status != "ok":
        flow["error"] = answer.reason if answer.status == "refused" else answer.status
        return redirect(url_for("eid.finish" if answer.status == "wrong_code" else "eid.start"))
    visit.flows["eid"] = {"done": answer.level}
    return redirect(url_for("eid.done"))


@bp.get("/done")
def done() -> Response | str:
    visit, flow = _card_visit()
    if visit is None or "done" not in flow:
        return redirect(url_for("eid.start"))
    return render("eid/done.html", visit=visit, page="eid-done")
