"""Flow 1, the insured-person check of seed 003: the summary and four detail screens.

The record is read once, when the card goes in (live from the server, else from the
replica); these screens only show it. The old-age savings screen is for verification only:
it has no print path of any kind, and the receipt layer refuses such a receipt anyway.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from flask import Blueprint, Response, redirect, url_for

from device.kiosk.views.common import kiosk, render
from hardware.card import ThaiIdCard

bp = Blueprint("insured", __name__, url_prefix="/<lang>/insured")

#: How long the summary waits for the card and the record before showing "still reading".
READY_WAIT_S = 10.0
DETAILS = ("hospital", "contributions", "benefits", "old_age")


def _card_visit():  # type: ignore[no-untyped-def]
    state = kiosk()
    visit = state.card_visit()
    if visit is None:
        return None
    state.wait_ready(visit, READY_WAIT_S)
    return visit


@bp.get("/")
def summary() -> Response | str:
    """Name, status, hospital, contributions, benefits, old-age savings, as of when."""
    visit = _card_visit()
    if visit is None:
        return redirect(url_for("home.index"))
    if visit.state == "reading":
        return render("insured/reading.html", visit=visit, page="reading")
    if visit.state == "card_error":
        return redirect(url_for("home.index"))
    return render(
        "insured/summary.html",
        visit=visit,
        page="summary",
        view=visit.record,
        age=age_of(visit.card, date.today()) if visit.card is not None else None,
    )


def age_of(card: ThaiIdCard, today: date) -> int:
    """Whole years on ``today`` (seed 003's card-in screen shows it); a card that knows only
    the year of birth counts from 1 January."""
    born = card.date_of_birth or date(card.birth_year, 1, 1)
    return today.year - born.year - ((today.month, today.day) < (born.month, born.day))


@bp.get("/<screen>")
def detail(screen: str) -> Response | str:
    """One of the four detail screens."""
    if screen not in DETAILS:
        return redirect(url_for("insured.summary"))
    visit = _card_visit()
    if visit is None or visit.record is None or visit.record.record is None:
        return redirect(url_for("insured.summary"))
    record = visit.record.record
    totals = {}
    if screen == "contributions":
        totals = {
            "payments": sum(row.payments for row in record.contributions),
            "amount": sum((row.amount for row in record.contributions), Decimal(0)),
        }
    elif screen == "benefits":
        totals = {"amount": sum((row.amount for row in record.benefits), Decimal(0))}
    elif screen == "old_age":
        rows = record.old_age_savings
        totals = {
            "employee": sum((row.employee for row in rows), Decimal(0)),
            "employer": sum((row.employer for row in rows), Decimal(0)),
            "government": sum((row.government for row in rows), Decimal(0)),
            "total": sum((row.total for row in rows), Decimal(0)),
        }
    return render(
        f"insured/{screen}.html",
        visit=visit,
        page=f"insured-{screen}",
        view=visit.record,
        record=record,
        totals=totals,
    )
