"""The bank's payment callback: HMAC-signed, inside a time window, each nonce once.

The bank POSTs JSON ``{"reference", "amount", "currency", "bank_txn", "paid_at"}`` (the amount
a string) with three headers:

- ``X-Bank-Timestamp``: Unix seconds when it signed;
- ``X-Bank-Nonce``: 16 to 64 letters, digits, ``-`` or ``_``, never used twice;
- ``X-Bank-Signature``: ``sha256=`` and the hex HMAC-SHA256, under the shared secret
  (``BANK_WEBHOOK_SECRET``), of ``"<timestamp>.<nonce>."`` followed by the raw body.

A bad signature is refused (401) before anything else is read; so is a timestamp further
than ``BANK_WEBHOOK_WINDOW_S`` from the server's clock (a captured callback replayed later).
Within the window, the nonce is recorded with the outcome in the settling transaction, so
the same callback replayed is refused (409). See docs/bills.md.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal, InvalidOperation

import msgspec

TIMESTAMP = "X-Bank-Timestamp"
NONCE = "X-Bank-Nonce"
SIGNATURE = "X-Bank-Signature"
_NONCE = re.compile(r"^[A-Za-z0-9_-]{16,64}$")
#: The largest body a callback may have.
MAX_BODY = 4096


class WebhookRejectedError(Exception):
    """The callback is refused with ``status`` for ``reason`` (a short code)."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


class Callback(msgspec.Struct, kw_only=True, forbid_unknown_fields=False):
    """What the bank says was paid."""

    reference: str
    amount: str
    currency: str
    bank_txn: str
    paid_at: datetime


@dataclass(frozen=True)
class VerifiedCallback:
    """A callback whose signature, time and shape are right."""

    nonce: str
    reference: str
    amount: Decimal
    currency: str
    bank_txn: str
    paid_at: datetime


def signature(secret: bytes, timestamp: str, nonce: str, body: bytes) -> str:
    """The ``X-Bank-Signature`` value of a callback."""
    mac = hmac.new(secret, f"{timestamp}.{nonce}.".encode() + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


def signed_headers(secret: bytes, body: bytes, *, timestamp: float | None = None) -> dict:
    """The headers a bank sends with ``body`` (for the simulated bank and the tests)."""
    stamp = str(int(time.time() if timestamp is None else timestamp))
    nonce = secrets.token_urlsafe(18)
    return {
        TIMESTAMP: stamp,
        NONCE: nonce,
        SIGNATURE: signature(secret, stamp, nonce, body),
        "Content-Type": "application/json",
    }


def verify(
    headers: Mapping[str, str], body: bytes, secret: bytes, window_s: float, now: float
) -> VerifiedCallback:
    """Check a callback; raises :class:`WebhookRejectedError`."""
    if len(body) > MAX_BODY:
        raise WebhookRejectedError(413, "too_large")
    stamp = headers.get(TIMESTAMP, "")
    nonce = headers.get(NONCE, "")
    given = headers.get(SIGNATURE, "")
    if not re.fullmatch(r"[0-9]{1,12}", stamp) or not _NONCE.match(nonce):
        raise WebhookRejectedError(401, "unsigned")
    if not hmac.compare_digest(signature(secret, stamp, nonce, body), given):
        raise WebhookRejectedError(401, "bad_signature")
    if abs(now - int(stamp)) > window_s:
        raise WebhookRejectedError(401, "stale")
    try:
        callback = msgspec.json.decode(body, type=Callback)
        amount = Decimal(callback.amount)
    except (msgspec.DecodeError, msgspec.ValidationError, InvalidOperation):
        raise WebhookRejectedError(400, "malformed") from None
    if callback.paid_at.tzinfo is None or not amount.is_finite() or amount <= 0:
        raise WebhookRejectedError(400, "malformed")
    if not re.fullmatch(r"[A-Z0-9]{1,25}", callback.reference) or not callback.bank_txn:
        raise WebhookRejectedError(400, "malformed")
    return VerifiedCallback(
        nonce=nonce,
        reference=callback.reference,
        amount=amount,
        currency=callback.currency,
        bank_txn=callback.bank_txn[:64],
        paid_at=callback.paid_at,
    )
