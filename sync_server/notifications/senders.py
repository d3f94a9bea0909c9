"""The channels that leave the server from the notify worker: e-mail over SMTP and a
webhook (an HTTP POST of JSON signed with HMAC-SHA256). SMS go through the SMS outbox.

Each sender raises :class:`DeliveryError` on failure; ``retryable`` says whether a later
attempt may pass (a refused connection, a 5xx, a temporary SMTP error) or not (a 4xx, an
address the mail server refuses for good).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import smtplib
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from email.message import EmailMessage
from typing import Any

#: The headers a webhook receiver checks: ``X-DCS-Signature`` is
#: ``sha256=<hex HMAC-SHA256 of "<timestamp>.<body>" with the shared secret>``.
SIGNATURE_HEADER = "X-DCS-Signature"
TIMESTAMP_HEADER = "X-DCS-Timestamp"
DELIVERY_HEADER = "X-DCS-Delivery"
RETRYABLE_STATUSES = frozenset({408, 425, 429, 500, 502, 503, 504})


class DeliveryError(Exception):
    """One attempt failed; ``retryable`` when another attempt may pass."""

    def __init__(self, message: str, *, retryable: bool = True) -> None:
        super().__init__(message[:200])
        self.retryable = retryable


@dataclass(frozen=True)
class SmtpSettings:
    """The mail server (``NOTIFY_SMTP_*``)."""

    host: str
    port: int = 25
    sender: str = "dcs-alarms@localhost"
    username: str | None = None
    password: str | None = None
    starttls: bool = False
    timeout_s: float = 10.0

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> SmtpSettings | None:
        """The settings, or None when no ``NOTIFY_SMTP_HOST`` is configured."""
        if not config.get("NOTIFY_SMTP_HOST"):
            return None
        return cls(
            host=str(config["NOTIFY_SMTP_HOST"]),
            port=int(config.get("NOTIFY_SMTP_PORT", 25)),
            sender=str(config.get("NOTIFY_SMTP_FROM") or "dcs-alarms@localhost"),
            username=config.get("NOTIFY_SMTP_USER") or None,
            password=config.get("NOTIFY_SMTP_PASSWORD") or None,
            starttls=bool(config.get("NOTIFY_SMTP_STARTTLS", False)),
            timeout_s=float(config.get("NOTIFY_SMTP_TIMEOUT_S", 10.0)),
        )


class EmailSender:
    """Sends one plain-text UTF-8 message per notification through ``settings``' server."""

    def __init__(self, settings: SmtpSettings) -> None:
        self.settings = settings

    def send(self, to: str, subject: str, body: str, *, message_id: str) -> None:
        """Hand the message to the mail server; :class:`DeliveryError` when it does not take it."""
        message = EmailMessage()
        message["From"] = self.settings.sender
        message["To"] = to
        message["Subject"] = subject
        message["Message-ID"] = f"<{message_id}@dcs>"
        message.set_content(body)
        try:
            with smtplib.SMTP(
                self.settings.host, self.settings.port, timeout=self.settings.timeout_s
            ) as smtp:
                if self.settings.starttls:
                    smtp.starttls()
                if self.settings.username:
                    smtp.login(self.settings.username, self.settings.password or "")
                smtp.send_message(message)
        except smtplib.SMTPRecipientsRefused as exc:
            codes = [code for code, _ in exc.recipients.values()]
            raise DeliveryError(f"SMTP refused the recipient {codes}", retryable=False) from None
        except smtplib.SMTPResponseException as exc:
            # 4xx: try later (greylisting, a full queue); 5xx: the server will not take it.
            raise DeliveryError(f"SMTP {exc.smtp_code}", retryable=exc.smtp_code < 500) from None
        except (smtplib.SMTPException, OSError) as exc:
            raise DeliveryError(f"SMTP: {type(exc).__name__}") from None


def signature(secret: bytes, timestamp: str, body: bytes) -> str:
    """The ``X-DCS-Signature`` value of ``body`` sent at ``timestamp``."""
    digest = hmac.new(secret, timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    return f"sha256={digest}"


class WebhookSender:
    """POSTs the notification's JSON with its signature; a 2xx is delivered."""

    def __init__(
        self,
        secret: bytes,
        timeout_s: float = 5.0,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if not secret:
            raise ValueError("NOTIFY_WEBHOOK_SECRET is needed to sign webhook calls")
        self._secret = secret
        self.timeout_s = timeout_s
        self._clock = clock

    def send(self, url: str, payload: Mapping[str, Any], *, delivery_id: str) -> None:
        """POST ``payload`` to ``url``; :class:`DeliveryError` unless the answer is 2xx."""
        if not url.startswith(("https://", "http://")):
            raise DeliveryError("the webhook URL is not http(s)", retryable=False)
        body = json.dumps(payload, ensure_ascii=False, sort_keys=True).encode()
        timestamp = str(int(self._clock()))
        request = urllib.request.Request(  # noqa: S310 - the scheme is checked above
            url,
            data=body,
            method="POST",
            headers={
                "Content-Type": "application/json; charset=utf-8",
                "User-Agent": "dcs-notify/1",
                TIMESTAMP_HEADER: timestamp,
                SIGNATURE_HEADER: signature(self._secret, timestamp, body),
                DELIVERY_HEADER: delivery_id,
            },
        )
        try:
            with urllib.request.urlopen(request, timeout=self.timeout_s) as response:  # noqa: S310
                response.read(4096)
        except urllib.error.HTTPError as exc:
            exc.close()
            raise DeliveryError(
                f"HTTP {exc.code}", retryable=exc.code in RETRYABLE_STATUSES
            ) from None
        except (urllib.error.URLError, TimeoutError, ConnectionError) as exc:
            reason = getattr(exc, "reason", exc)
            raise DeliveryError(f"{type(reason).__name__}") from None
