"""The bills feature's settings, read from the server config (``sync_server/config.py``).

``PAYMENT_COUNTRY`` picks the QR scheme: ``TH`` PromptPay bill payment in baht, ``VN``
VietQR in dong. The merchant fields name the deployment's collecting account at its bank.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sync_server.bills.emvco import Merchant

#: Country → currency of its QR scheme.
COUNTRIES = {"TH": "THB", "VN": "VND"}

DEFAULTS: dict[str, object] = {
    # The deployment's country: TH (PromptPay, baht) or VN (VietQR, dong).
    "PAYMENT_COUNTRY": "TH",
    "PAYMENT_MERCHANT_NAME": "DCS BILL PAYMENT",
    "PAYMENT_MERCHANT_CITY": "BANGKOK",
    # PromptPay: the deployment's 15-digit biller id (tax id + suffix) at its bank.
    "PAYMENT_PROMPTPAY_BILLER_ID": None,
    # VietQR: the collecting bank's NAPAS BIN and the account number.
    "PAYMENT_VIETQR_BIN": None,
    "PAYMENT_VIETQR_ACCOUNT": None,
    # How long a QR shown at a kiosk can be paid; a bill's printed QR, how long it lasts.
    "PAYMENT_QR_TTL_S": 600,
    "PAYMENT_LATER_TTL_S": 14 * 24 * 3600,
    # After a QR expired, how long a callback for a payment made before the expiry may take.
    "PAYMENT_CALLBACK_GRACE_S": 120,
    # The bank's webhook: the shared HMAC secret and the accepted clock difference.
    "BANK_WEBHOOK_SECRET": None,
    "BANK_WEBHOOK_WINDOW_S": 300,
    # Billers reached over HTTP, {"electricity": "https://..."}; the management fee is ours.
    "BILLER_URLS": {},
    "BILLER_TOKEN": None,
    # The health-insurance product adapter's URL (None: no plans offered).
    "INSURANCE_PRODUCT_URL": None,
}


class BillsConfigError(RuntimeError):
    """The bills settings are incomplete or wrong."""


@dataclass(frozen=True)
class PaymentSettings:
    """What opening and settling a payment needs."""

    merchant: Merchant
    qr_ttl: timedelta
    later_ttl: timedelta
    grace: timedelta
    #: Keys the references of the bills' printed QR codes (they are derived, not stored).
    secret: bytes

    @property
    def currency(self) -> str:
        """The deployment's currency."""
        return self.merchant.currency


def settings_from_config(config: Mapping[str, Any]) -> PaymentSettings:
    """The payment settings of a server config; raises :class:`BillsConfigError`."""
    country = str(config.get("PAYMENT_COUNTRY", DEFAULTS["PAYMENT_COUNTRY"])).upper()
    if country not in COUNTRIES:
        raise BillsConfigError(f"PAYMENT_COUNTRY must be one of {sorted(COUNTRIES)}")

    def get(key: str) -> Any:
        return config.get(key, DEFAULTS[key])

    merchant = Merchant(
        currency=COUNTRIES[country],
        name=str(get("PAYMENT_MERCHANT_NAME")),
        city=str(get("PAYMENT_MERCHANT_CITY")),
        promptpay_biller_id=get("PAYMENT_PROMPTPAY_BILLER_ID"),
        vietqr_bin=get("PAYMENT_VIETQR_BIN"),
        vietqr_account=get("PAYMENT_VIETQR_ACCOUNT"),
    )
    if country == "TH" and not merchant.promptpay_biller_id:
        raise BillsConfigError("PAYMENT_PROMPTPAY_BILLER_ID is not set")
    if country == "VN" and not (merchant.vietqr_bin and merchant.vietqr_account):
        raise BillsConfigError("PAYMENT_VIETQR_BIN and PAYMENT_VIETQR_ACCOUNT are not set")
    secret = config.get("SECRET_KEY") or ""
    return PaymentSettings(
        merchant=merchant,
        qr_ttl=timedelta(seconds=float(get("PAYMENT_QR_TTL_S"))),
        later_ttl=timedelta(seconds=float(get("PAYMENT_LATER_TTL_S"))),
        grace=timedelta(seconds=float(get("PAYMENT_CALLBACK_GRACE_S"))),
        secret=(secret.encode() if isinstance(secret, str) else secret) + b"/bills",
    )


def deployment_currency(config: Mapping[str, Any]) -> str:
    """The currency the deployment bills in: its payment settings', else its country's."""
    try:
        return settings_from_config(config).currency
    except BillsConfigError:
        return "THB" if config.get("PAYMENT_COUNTRY", "TH") == "TH" else "VND"
