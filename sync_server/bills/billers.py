"""The biller adapter interface, and the one that speaks it over HTTP.

A biller (the electricity or water company, the internet or telecom provider, a school) is
one :class:`Biller`: it looks up a customer's outstanding bills and is told when one was
paid. The building management fee is ours (:mod:`sync_server.bills.management`); every other
biller is reached through :class:`HttpBiller` at the URL the deployment configures
(``BILLER_URLS``), which is what a real deployment's integration must serve (docs/bills.md).
A health-insurance product is a :class:`Product` (quotes, then a payment confirmed), reached
the same way (:class:`HttpProduct`).
"""

from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any, Protocol

#: Seconds a biller may take to answer before the kiosk is told to try again.
TIMEOUT_S = 5.0


class BillerError(RuntimeError):
    """A biller could not be reached or answered something unreadable."""


@dataclass(frozen=True)
class Customer:
    """Who asks: the card holder (by the id on their card) and their building."""

    citizen_id: str
    building: str | None = None


@dataclass(frozen=True)
class Bill:
    """One outstanding bill, as its biller states it."""

    biller: str
    reference: str
    kind: str
    amount: Decimal
    currency: str
    label: str
    period: str | None = None
    due: date | None = None

    @property
    def bill_id(self) -> str:
        """``biller:reference``, unique across billers."""
        return f"{self.biller}:{self.reference}"


@dataclass(frozen=True)
class Quote:
    """A plan a product offers the customer's household, valid until ``valid_until``."""

    quote_id: str
    plan: str
    insurer: str
    members: int
    amount: Decimal
    currency: str
    cover: Decimal
    valid_until: date


class Biller(Protocol):
    """What every biller adapter does."""

    name: str

    def bills_for(self, customer: Customer) -> list[Bill]:
        """The customer's outstanding bills (none: an empty list)."""
        ...

    def confirm_payment(self, bill: Bill, payment_reference: str, paid_at: datetime) -> str:
        """The bank confirmed ``payment_reference`` paying ``bill``: record it and return the
        biller's own confirmation number. Must be idempotent on ``payment_reference``."""
        ...


class Product(Protocol):
    """What a health-insurance product adapter does."""

    name: str

    def quotes_for(self, customer: Customer) -> list[Quote]:
        """The household plans offered to the customer."""
        ...

    def confirm_payment(self, quote: Quote, payment_reference: str, paid_at: datetime) -> str:
        """The plan was paid: issue it and return the policy number (idempotent)."""
        ...


def _money(value: Any) -> Decimal:
    # JSON numbers would pass through float on the way: amounts travel as strings.
    if not isinstance(value, str):
        raise BillerError("amounts must be strings")
    try:
        amount = Decimal(value)
    except InvalidOperation:
        raise BillerError("unreadable amount") from None
    if not amount.is_finite() or amount <= 0:
        raise BillerError("amounts must be positive")
    return amount


class _Http:
    """GET and POST JSON with a bearer token and a timeout."""

    def __init__(self, url: str, token: str | None, timeout_s: float) -> None:
        if urllib.parse.urlsplit(url).scheme not in ("http", "https"):
            raise ValueError(f"not an http(s) URL: {url!r}")
        self.url = url.rstrip("/")
        self.token = token
        self.timeout_s = timeout_s

    def call(self, path: str, body: Mapping[str, Any] | None = None) -> dict[str, Any]:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(  # noqa: S310 - the URL is checked to be http(s)
            self.url + path, data=data, method="GET" if body is None else "POST"
        )
        request.add_header("Accept", "application/json")
        if data is not None:
            request.add_header("Content-Type", "application/json")
        if self.token:
            request.add_header("Authorization", f"Bearer {self.token}")
        try:
            with urllib.request.urlopen(request, timeout=self.timeout_s) as response:  # noqa: S310
                answer = json.loads(response.read(1 << 20))
        except (urllib.error.URLError, OSError, ValueError) as exc:
            raise BillerError(f"{self.url}: {type(exc).__name__}") from None
        if not isinstance(answer, dict):
            raise BillerError(f"{self.url}: not a JSON object")
        return answer


class HttpBiller:
    """A biller behind HTTP: ``GET {url}/bills?customer=<id>`` and ``POST {url}/payments``."""

    def __init__(
        self, name: str, url: str, *, token: str | None = None, timeout_s: float = TIMEOUT_S
    ) -> None:
        self.name = name
        self._http = _Http(url, token, timeout_s)

    def bills_for(self, customer: Customer) -> list[Bill]:
        """The bills the biller lists for the customer's id."""
        query = urllib.parse.urlencode({"customer": customer.citizen_id})
        answer = self._http.call(f"/bills?{query}")
        try:
            return [
                Bill(
                    biller=self.name,
                    reference=str(item["reference"]),
                    kind=str(item["kind"]),
                    amount=_money(item["amount"]),
                    currency=str(item["currency"]),
                    label=str(item.get("biller") or self.name)[:120],
                    period=item.get("period"),
                    due=date.fromisoformat(item["due"]) if item.get("due") else None,
                )
                for item in answer.get("bills", [])
            ]
        except (KeyError, TypeError, ValueError) as exc:
            raise BillerError(f"{self.name}: unreadable bill ({type(exc).__name__})") from None

    def confirm_payment(self, bill: Bill, payment_reference: str, paid_at: datetime) -> str:
        """Tell the biller; its answer's ``confirmation`` is printed on the receipt."""
        answer = self._http.call(
            "/payments",
            {
                "reference": bill.reference,
                "amount": str(bill.amount),
                "currency": bill.currency,
                "payment_reference": payment_reference,
                "paid_at": paid_at.isoformat(),
            },
        )
        return str(answer.get("confirmation") or payment_reference)[:120]


class HttpProduct:
    """An insurance product behind HTTP: ``GET {url}/quotes?customer=<id>&members=<n>`` and
    ``POST {url}/policies``."""

    def __init__(
        self, name: str, url: str, *, token: str | None = None, timeout_s: float = TIMEOUT_S
    ) -> None:
        self.name = name
        self._http = _Http(url, token, timeout_s)

    def quotes_for(self, customer: Customer) -> list[Quote]:
        """The plans offered for the customer's household."""
        query = urllib.parse.urlencode({"customer": customer.citizen_id})
        answer = self._http.call(f"/quotes?{query}")
        try:
            return [
                Quote(
                    quote_id=str(item["quote_id"]),
                    plan=str(item["plan"]),
                    insurer=str(item["insurer"])[:120],
                    members=int(item["members"]),
                    amount=_money(item["amount"]),
                    currency=str(item["currency"]),
                    cover=_money(item["cover"]),
                    valid_until=date.fromisoformat(item["valid_until"]),
                )
                for item in answer.get("quotes", [])
            ]
        except (KeyError, TypeError, ValueError) as exc:
            raise BillerError(f"{self.name}: unreadable quote ({type(exc).__name__})") from None

    def confirm_payment(self, quote: Quote, payment_reference: str, paid_at: datetime) -> str:
        """Issue the plan; returns the policy number."""
        answer = self._http.call(
            "/policies",
            {
                "quote_id": quote.quote_id,
                "amount": str(quote.amount),
                "payment_reference": payment_reference,
                "paid_at": paid_at.isoformat(),
            },
        )
        policy = answer.get("policy")
        if not policy:
            raise BillerError(f"{self.name}: no policy number")
        return str(policy)[:120]
