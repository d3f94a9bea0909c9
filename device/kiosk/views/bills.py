"""Seed 002's utilities at the kiosk: pay bills, and buy a health-insurance plan, by QR.

With the card in, the resident sees their outstanding bills (electricity, water, internet,
telecom, tuition, the building management fee), ticks some and gets one dynamic payment QR
(PromptPay or VietQR, made by the server). The screen waits for the server's notice
(``device/kiosk/payments.py``): "paid" with a printed receipt, or "expired". Paying needs the
network: offline the screen says so and offers to print each chosen bill's own QR to pay
later. A household plan is bought through the same QR screen (``/insurance``).
"""

from __future__ import annotations

import segno
from flask import Blueprint, Response, jsonify, redirect, request, url_for
from markupsafe import Markup

from device.errors import LookupTimeoutError, ServerUnavailableError
from device.kiosk.views.common import kiosk, render, visit_from_form

bp = Blueprint("bills", __name__, url_prefix="/<lang>")

_OFFLINE = (ServerUnavailableError, LookupTimeoutError)
#: Plans with a name in the catalogues; another plan shows its code.
KNOWN_PLANS = frozenset({"insurance.plan.basic", "insurance.plan.plus"})


def _card_visit(name: str):  # type: ignore[no-untyped-def]
    visit = kiosk().card_visit()
    if visit is None or visit.card is None:
        return None, None
    return visit, visit.flows.setdefault(name, {})


def qr_svg(payload: str) -> Markup:
    """The payload as an inline SVG QR code (segno), large enough to scan from a phone."""
    code = segno.make(payload, error="m", micro=False)
    return Markup(code.svg_inline(scale=7, border=4, dark="#000", light="#fff"))  # noqa: S704


@bp.get("/bills/")
def start() -> Response | str:
    """The card holder's outstanding bills, to tick and pay."""
    visit, flow = _card_visit("bills")
    if visit is None:
        return render("bills/need_card.html", page="bills-need-card", service="bills")
    error = flow.pop("error", None)
    try:
        answer = kiosk().services.ask("bills.list", citizen_id=visit.card.citizen_id)
    except _OFFLINE:
        if flow.get("bills"):
            answer = None  # listed earlier in this visit: keep them, paying says it is offline
        else:
            return render(
                "bills/list.html", visit=visit, page="bills", bills=[], error="needs_network"
            )
    if answer is not None:
        if answer.status != "ok":
            return render(
                "bills/list.html",
                visit=visit,
                page="bills",
                bills=[],
                error=answer.reason or answer.status,
            )
        flow["bills"] = list(answer.bills)
        flow["partial"] = answer.reason == "some_unavailable"
    return render(
        "bills/list.html",
        visit=visit,
        page="bills",
        bills=flow["bills"],
        partial=flow.get("partial"),
        error=error,
    )


@bp.post("/bills/pay")
def pay() -> Response:
    """One QR for the ticked bills."""
    visit = visit_from_form()
    flow = visit.flows.setdefault("bills", {})
    chosen = [b for b in flow.get("bills", []) if b.bill_id in request.form.getlist("bill")]
    if not chosen:
        flow["error"] = "no_bills"
        return redirect(url_for("bills.start"))
    try:
        answer = kiosk().services.ask(
            "bills.pay", citizen_id=visit.card.citizen_id, bill_ids=[b.bill_id for b in chosen]
        )
    except _OFFLINE:
        flow["later"] = chosen
        return redirect(url_for("bills.offline"))
    if answer.status != "ok" or answer.payment is None:
        flow["error"] = answer.reason or answer.status
        return redirect(url_for("bills.start"))
    visit.flows["pay"] = {
        "reference": answer.payment.reference,
        "payment": answer.payment,
        "items": chosen,
        "outcome": None,
        "back": "bills.start",
    }
    return redirect(url_for("bills.qr"))


@bp.get("/pay/")
def qr() -> Response | str:
    """The QR, the amount and the reference; the page waits for the outcome."""
    visit, flow = _card_visit("pay")
    if visit is None or "payment" not in flow:
        return redirect(url_for("home.index"))
    payment = flow["payment"]
    if flow.get("outcome") == "paid":
        return redirect(url_for("bills.paid"))
    if flow.get("outcome") == "expired":
        return redirect(url_for("bills.expired"))
    return render(
        "bills/qr.html",
        visit=visit,
        page="pay-qr",
        payment=payment,
        items=flow["items"],
        qr=qr_svg(payment.payload),
        scheme="promptpay" if payment.currency == "THB" else "vietqr",
    )


@bp.get("/pay/state")
def state() -> Response:
    """Where the payment on screen stands (the page asks every second; nothing personal)."""
    visit, flow = _card_visit("pay")
    if visit is None or "payment" not in flow:
        return jsonify(state="gone")
    return jsonify(state=flow.get("outcome") or "pending")


@bp.get("/pay/paid")
def paid() -> Response | str:
    visit, flow = _card_visit("pay")
    if visit is None or flow.get("outcome") != "paid":
        return redirect(url_for("home.index"))
    return render(
        "bills/paid.html",
        visit=visit,
        page="pay-paid",
        payment=flow["payment"],
        confirmations=flow.get("confirmations", []),
        printing=bool(flow.get("receipt")),
    )


@bp.get("/pay/expired")
def expired() -> Response | str:
    visit, flow = _card_visit("pay")
    if visit is None or flow.get("outcome") != "expired":
        return redirect(url_for("home.index"))
    return render("bills/expired.html", visit=visit, page="pay-expired", back=flow.get("back"))


@bp.get("/bills/offline")
def offline() -> Response | str:
    """Paying needs the network: say so, offer each bill's own QR on paper."""
    visit, flow = _card_visit("bills")
    if visit is None or not flow.get("later"):
        return redirect(url_for("bills.start"))
    printable = [b for b in flow["later"] if b.later_qr]
    return render(
        "bills/offline.html",
        visit=visit,
        page="bills-offline",
        bills=flow["later"],
        printable=bool(printable),
        printed=flow.get("printed_later"),
    )


@bp.post("/bills/print-later")
def print_later() -> Response:
    """Print the chosen bills' own QR codes to pay from a banking app later."""
    from device.kiosk.receipts import later_receipt

    visit = visit_from_form()
    flow = visit.flows.setdefault("bills", {})
    station = kiosk().station
    if station.hardware is not None and station.hardware.printer is not None:
        for bill in flow.get("later", []):
            if bill.later_qr:
                station.receipts.queue("bills.later", later_receipt(bill))
        flow["printed_later"] = True
    return redirect(url_for("bills.offline"))


# --- seed 002: buy health insurance --------------------------------------------------------


@bp.get("/insurance/")
def insurance() -> Response | str:
    """The household plans offered to the card holder."""
    visit, flow = _card_visit("insurance")
    if visit is None:
        return render(
            "bills/need_card.html", page="insurance-need-card", service="health_insurance"
        )
    error = flow.pop("error", None)
    try:
        answer = kiosk().services.ask("insurance.quote", citizen_id=visit.card.citizen_id)
    except _OFFLINE:
        return render(
            "bills/insurance.html",
            visit=visit,
            page="insurance",
            quotes=[],
            error="needs_network",
            known_plans=KNOWN_PLANS,
        )
    if answer.status != "ok":
        return render(
            "bills/insurance.html",
            visit=visit,
            page="insurance",
            quotes=[],
            error=answer.reason or answer.status,
            known_plans=KNOWN_PLANS,
        )
    flow["quotes"] = list(answer.quotes)
    return render(
        "bills/insurance.html",
        visit=visit,
        page="insurance",
        quotes=flow["quotes"],
        error=error,
        known_plans=KNOWN_PLANS,
    )


@bp.post("/insurance/buy")
def buy() -> Response:
    """A QR for the chosen plan."""
    visit = visit_from_form()
    flow = visit.flows.setdefault("insurance", {})
    quote = next(
        (q for q in flow.get("quotes", []) if q.quote_id == request.form.get("quote")), None
    )
    if quote is None:
        return redirect(url_for("bills.insurance"))
    try:
        answer = kiosk().services.ask(
            "insurance.buy", citizen_id=visit.card.citizen_id, quote_id=quote.quote_id
        )
    except _OFFLINE:
        flow["error"] = "needs_network"
        return redirect(url_for("bills.insurance"))
    if answer.status != "ok" or answer.payment is None:
        flow["error"] = answer.reason or answer.status
        return redirect(url_for("bills.insurance"))
    from contract.bills import BillItem

    item = BillItem(
        bill_id=answer.payment.bill_ids[0],
        kind="insurance",
        biller=quote.insurer,
        amount=quote.amount,
        currency=quote.currency,
    )
    visit.flows["pay"] = {
        "reference": answer.payment.reference,
        "payment": answer.payment,
        "items": [item],
        "outcome": None,
        "back": "bills.insurance",
    }
    return redirect(url_for("bills.qr"))
