"""What every kiosk view shares: the state, the current visit, rendering with no cache."""

from __future__ import annotations

from typing import Any

from flask import current_app, g, redirect, render_template, request, url_for
from werkzeug.wrappers import Response

from contract import BENEFIT_TYPES, PAYMENT_METHODS
from device.kiosk.i18n import LANGUAGE_NAMES, LANGUAGES
from device.kiosk.state import KioskState, VisitGoneError
from device.kiosk.visit import Visit

#: Codes of the records that have a catalogue entry; a newer code shows as it is.
KNOWN_CODES = frozenset(
    [f"benefit.{code}" for code in BENEFIT_TYPES] + [f"method.{code}" for code in PAYMENT_METHODS]
)

#: Error codes a screen can name (``error.<code>`` in the catalogues); others say "unknown".
ERROR_KEYS = frozenset(
    f"error.{code}"
    for code in (
        "bad_phone",
        "needs_network",
        "server_unreachable",
        "wrong_code",
        "expired",
        "rate_limited",
        "error",
        "empty_form",
        "bad_number",
        "no_match",
        "weak_password",
        "password_mismatch",
        "not_in_register",
        "data_mismatch",
        "already_registered",
        "guardian_required",
        "guardian_not_registered",
        "not_guardian",
        "guardian_not_needed",
        "card_mismatch",
        "bad_child",
        "bad_credentials",
        "account_locked",
        "already_logged_in",
        "not_an_officer",
        "session_ended",
        "station_quarantined",
        "no_bills",
        "not_your_bill",
        "biller_unavailable",
        "bills_not_offered",
        "no_such_quote",
        "no_such_payment",
    )
)

__all__ = ["VisitGoneError", "back_home", "kiosk", "render", "visit_from_form"]


def kiosk() -> KioskState:
    """The kiosk state of the current app."""
    return current_app.extensions["dcs_kiosk"]


def render(template: str, *, visit: Visit | None = None, page: str = "", **context: Any) -> str:
    """Render a screen. A screen with a ``visit`` is personal: the page clears itself the
    moment that visit ends (card removed, timed out) and counts down when idle."""
    state = kiosk()
    link = state.station.sync.link
    switch = {}
    for code in LANGUAGES:
        if request.endpoint is None:  # no route matched (the "not found" screen): go home
            switch[code] = url_for("home.index", lang=code)
            continue
        args = dict(request.view_args or {})
        args["lang"] = code
        switch[code] = url_for(request.endpoint, **args) if request.method == "GET" else None
    return render_template(
        template,
        visit=visit,
        page=page,
        online=link.connected,
        languages=LANGUAGE_NAMES,
        switch=switch,
        lang=g.lang,
        large=request.cookies.get("display") == "large",
        config=state.config,
        endpoints=current_app.view_functions,
        known_codes=KNOWN_CODES,
        error_keys=ERROR_KEYS,
        **context,
    )


def visit_from_form() -> Visit:
    """The visit a posted form belongs to; raises :class:`VisitGoneError` for an old one."""
    return kiosk().check(request.form.get("visit"))


def back_home() -> Response:
    """Back to the home screen in the current language."""
    return redirect(url_for("home.index"))
