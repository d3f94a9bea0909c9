"""Flow 3, the electronic identity account, level 1 (seed 001), with the card in the reader.

The card's data is shown for confirmation (id, name, sex, date of birth, address); the
resident gives a phone and an optional e-mail, types the code texted to the phone and sets a
password (with a strength meter); the server creates the level-1 account when the declared
data matches the population register. Seed 001 names three kinds of registration, each
started from the confirmation screen:

- for oneself, a Thai national;
- for oneself, a foreigner: the card (a Thai ID card for non-nationals) holds no passport, so
  the passport number and nationality are typed and matched against the register;
- for someone in one's care: the guardian's own card is in the reader and the population
  register lists who they are the parent or guardian of (a child under 14, or a person
  without legal capacity); the guardian chooses one, and the account is created linked to
  the guardian's (their own account must exist).

Level 2 is explained on a screen of its own: in person, with documents and biometrics, at
the police station. Needs the server.
"""

from __future__ import annotations

import re
from functools import cache

import msgspec
from babel import Locale
from flask import Blueprint, Response, g, redirect, request, url_for

from contract import DeclaredIdentity
from contract.identifiers import InvalidThaiMobileError, normalize_thai_mobile
from device.errors import LookupTimeoutError, ServerUnavailableError
from device.kiosk.views.common import kiosk, render, visit_from_form

bp = Blueprint("eid", __name__, url_prefix="/<lang>/eid")

_OFFLINE = (ServerUnavailableError, LookupTimeoutError)
_EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s]{1,189}\.[^@\s]{2,}$")
_PASSPORT = re.compile(r"^[A-Z0-9]{5,20}$")
#: CLDR's two-letter codes that name no nationality (groupings, unknown, pseudo-locales);
#: and Thailand: a Thai national registers with their own card.
_NOT_NATIONALITIES = frozenset({"EU", "EZ", "UN", "ZZ", "QO", "XA", "XB", "TH"})


@cache
def nationalities(lang: str) -> dict[str, str]:
    """ISO 3166-1 alpha-2 code to the country's name in ``lang`` (CLDR, through Babel),
    in the order of the names."""
    names = Locale.parse(lang).territories
    countries = {
        code: name
        for code, name in names.items()
        if len(code) == 2 and code.isalpha() and code not in _NOT_NATIONALITIES
    }
    return dict(sorted(countries.items(), key=lambda item: item[1]))


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
    """ "Correct: register me" (a Thai national)."""
    visit = visit_from_form()
    visit.flows["eid"] = {"declared": _from_card(visit.card), "guardian": False}
    return redirect(url_for("eid.contact"))


def _from_card(card, **extra: str) -> DeclaredIdentity:  # type: ignore[no-untyped-def]
    return DeclaredIdentity(
        citizen_id=card.citizen_id,
        first_th=card.name_th.first,
        last_th=card.name_th.last,
        date_of_birth=card.date_of_birth,
        **extra,
    )


@bp.get("/passport")
def passport() -> Response | str:
    """A foreigner: the passport number and the nationality (the card holds neither)."""
    visit, flow = _card_visit()
    if visit is None:
        return redirect(url_for("home.index"))
    return render(
        "eid/passport.html",
        visit=visit,
        page="eid-passport",
        nationalities=nationalities(g.lang),
        error=flow.pop("error", None),
    )


@bp.post("/passport")
def choose_passport() -> Response:
    visit = visit_from_form()
    flow = visit.flows.setdefault("eid", {})
    number = re.sub(r"[\s-]", "", request.form.get("passport_number", "")).upper()
    nationality = request.form.get("nationality", "")
    if not _PASSPORT.fullmatch(number) or nationality not in nationalities(g.lang):
        flow["error"] = "bad_passport"
        return redirect(url_for("eid.passport"))
    declared = _from_card(visit.card, passport_number=number, nationality=nationality)
    visit.flows["eid"] = {"declared": declared, "guardian": False}
    return redirect(url_for("eid.contact"))


@bp.get("/wards")
def wards() -> Response | str:
    """The people the register lists in the card holder's care, without an account yet."""
    visit, flow = _card_visit()
    if visit is None:
        return redirect(url_for("home.index"))
    error, found = None, []
    try:
        answer = kiosk().services.ask("eid.wards", citizen_id=visit.card.citizen_id)
    except _OFFLINE:
        error = "needs_network"
    else:
        if answer.status == "ok":
            found = answer.wards
        else:
            error = answer.reason if answer.status == "refused" else answer.status
    flow["wards"] = found
    return render(
        "eid/wards.html",
        visit=visit,
        page="eid-wards",
        wards=found,
        error=error or flow.pop("error", None),
    )


@bp.post("/wards")
def choose_ward() -> Response:
    visit = visit_from_form()
    flow = visit.flows.setdefault("eid", {})
    listed = flow.get("wards") or []
    chosen = next((w for w in listed if w.citizen_id == request.form.get("ward")), None)
    if chosen is None:  # not one the server listed for this card holder
        return redirect(url_for("eid.wards"))
    declared = DeclaredIdentity(
        citizen_id=chosen.citizen_id,
        first_th=chosen.first_th,
        last_th=chosen.last_th,
        date_of_birth=chosen.date_of_birth,
    )
    visit.flows["eid"] = {"declared": declared, "guardian": True}
    return redirect(url_for("eid.contact"))


@bp.get("/level2")
def level2() -> Response | str:
    """Level 2 is not done here: in person, with documents and biometrics."""
    visit, _ = _card_visit()
    if visit is None:
        return redirect(url_for("home.index"))
    return render("eid/level2.html", visit=visit, page="eid-level2")


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
        declared = msgspec.structs.replace(declared, email=flow["email"])
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
