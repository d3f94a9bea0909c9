"""Text messages to citizens: one gateway interface, a local sink and an HTTP driver.

The driver is chosen by config (``SMS_GATEWAY = "sink" | "http"``); :func:`init_app` builds
it once per app and :func:`gateway` returns it. See docs/backoffice.md.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from flask import Flask, current_app

from sync_server.config import ServerConfigError
from sync_server.sms.gateway import (
    DEFAULT_SENDER,
    SmsAddressError,
    SmsDeliveryError,
    SmsError,
    SmsGateway,
    check_number,
    mask_codes,
    mask_phone,
)
from sync_server.sms.http import HttpGateway, HttpGatewaySettings
from sync_server.sms.sink import SinkGateway

__all__ = [
    "DEFAULT_SENDER",
    "SMS_DEFAULTS",
    "HttpGateway",
    "HttpGatewaySettings",
    "SinkGateway",
    "SmsAddressError",
    "SmsDeliveryError",
    "SmsError",
    "SmsGateway",
    "check_number",
    "gateway",
    "gateway_from_config",
    "init_app",
    "mask_codes",
    "mask_phone",
]

#: Config keys of the SMS drivers and their defaults (set only where the config has none).
SMS_DEFAULTS: dict[str, object] = {
    "SMS_GATEWAY": "sink",  # "sink" (demo, tests) or "http" (production)
    "SMS_SENDER": DEFAULT_SENDER,
    "SMS_HTTP_URL": None,
    "SMS_HTTP_TOKEN": None,
    "SMS_HTTP_TIMEOUT_S": 5.0,
    "SMS_HTTP_ATTEMPTS": 3,
    "SMS_HTTP_BACKOFF_S": 0.5,
    "SMS_HTTP_FIELDS": {"to": "to", "text": "text", "sender": "sender"},
    "SMS_HTTP_ID_FIELD": "id",
}

_EXTENSION = "dcs_sms"


def gateway_from_config(config: Mapping[str, Any]) -> SmsGateway:
    """The driver ``config["SMS_GATEWAY"]`` names, configured from the ``SMS_HTTP_*`` keys.

    Raises :class:`ValueError` for a broken choice, and for the sink in production.
    """
    choice = str(config.get("SMS_GATEWAY") or "sink").lower()
    if choice == "sink":
        if config.get("PRODUCTION"):
            # The sink keeps every text, one-time codes included, where staff can read it.
            raise ValueError(
                "the 'sink' driver keeps every text (one-time codes included) readable on "
                "the server; with PRODUCTION = true set SMS_GATEWAY = 'http' and its "
                "SMS_HTTP_URL and SMS_HTTP_TOKEN"
            )
        return SinkGateway()
    if choice == "http":
        settings = HttpGatewaySettings(
            url=str(config.get("SMS_HTTP_URL") or ""),
            token=str(config.get("SMS_HTTP_TOKEN") or ""),
            timeout_s=float(config.get("SMS_HTTP_TIMEOUT_S", 5.0)),
            attempts=int(config.get("SMS_HTTP_ATTEMPTS", 3)),
            backoff_s=float(config.get("SMS_HTTP_BACKOFF_S", 0.5)),
            fields=dict(config.get("SMS_HTTP_FIELDS") or SMS_DEFAULTS["SMS_HTTP_FIELDS"]),
            id_field=str(config.get("SMS_HTTP_ID_FIELD") or "id"),
        )
        return HttpGateway(settings)
    raise ValueError(f"SMS_GATEWAY must be 'sink' or 'http', not {choice!r}")


def init_app(app: Flask) -> None:
    """Fill in the SMS defaults and build the configured driver for ``app``."""
    for key, value in SMS_DEFAULTS.items():
        app.config.setdefault(key, value)
    try:
        app.extensions[_EXTENSION] = gateway_from_config(app.config)
    except ValueError as exc:
        raise ServerConfigError(f"SMS gateway: {exc}") from None


def gateway() -> SmsGateway:
    """The current app's SMS driver."""
    return current_app.extensions[_EXTENSION]
