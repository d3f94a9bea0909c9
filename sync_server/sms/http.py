"""The production driver: a JSON POST to an SMS provider's HTTP API with a bearer token.

Every message is one POST of ``{"to": ..., "text": ..., "sender": ...}`` (the field names
are configurable, as providers differ) with ``Authorization: Bearer <token>``. Timeouts,
connection errors, 429 and 5xx are retried with doubling backoff; any other status is final.
The outcome of each message (masked number, attempts, gateway id or error) goes to
``SmsDispatch``; the text never does, since it may carry a one-time code.
"""

from __future__ import annotations

import json
import logging
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from sync_server.db import write_transaction
from sync_server.sms.gateway import DEFAULT_SENDER, SmsDeliveryError, check_number, mask_phone
from sync_server.sms.models import SmsDispatch

log = logging.getLogger(__name__)

#: Statuses worth another try: the provider is throttling or having trouble.
RETRYABLE_STATUSES = frozenset({408, 429, 500, 502, 503, 504})


@dataclass(frozen=True)
class HttpGatewaySettings:
    """How to reach the provider (``SMS_HTTP_*`` in the server config)."""

    url: str
    token: str
    timeout_s: float = 5.0
    #: Attempts in all, the first included.
    attempts: int = 3
    backoff_s: float = 0.5
    backoff_max_s: float = 8.0
    #: Request field names for the number, the text and the sender.
    fields: Mapping[str, str] = field(
        default_factory=lambda: {"to": "to", "text": "text", "sender": "sender"}
    )
    #: The field of the provider's JSON answer that holds its message id.
    id_field: str = "id"

    def __post_init__(self) -> None:
        if not self.url.startswith(("https://", "http://")):
            raise ValueError("SMS_HTTP_URL must be an http(s) URL")
        if not self.token:
            raise ValueError("SMS_HTTP_TOKEN is required for the http SMS driver")
        if self.attempts < 1:
            raise ValueError("SMS_HTTP_ATTEMPTS must be at least 1")


class _Retryable(Exception):
    """One attempt failed in a way another attempt may fix."""


class HttpGateway:
    """Sends through the provider's HTTP API; see the module docstring."""

    name = "http"

    def __init__(
        self, settings: HttpGatewaySettings, *, sleep: Callable[[float], None] = time.sleep
    ) -> None:
        self.settings = settings
        self._sleep = sleep  # injectable so tests never wait on the clock

    def send(self, to: str, text: str, sender: str = DEFAULT_SENDER) -> str:
        """POST the message, retrying what may pass later; return the provider's message id."""
        check_number(to)
        names = self.settings.fields
        body = json.dumps(
            {names["to"]: to, names["text"]: text, names["sender"]: sender}, ensure_ascii=False
        ).encode()
        delay = self.settings.backoff_s
        error = "not sent"
        attempt = 0
        for attempt in range(1, self.settings.attempts + 1):
            try:
                gateway_id = self._post(body)
            except _Retryable as exc:
                error = str(exc)
                log.warning("sms gateway attempt %d failed: %s", attempt, error)
                if attempt < self.settings.attempts:
                    self._sleep(delay)
                    delay = min(delay * 2, self.settings.backoff_max_s)
                continue
            except SmsDeliveryError as exc:
                error = str(exc)
                break
            row = self._record(to, sender, "sent", attempt, gateway_id=gateway_id)
            return gateway_id or f"dispatch-{row.id}"
        self._record(to, sender, "failed", attempt, error=error)
        log.error("sms not delivered after %d attempt(s): %s", attempt, error)
        raise SmsDeliveryError(f"SMS gateway refused the message: {error}")

    def _post(self, body: bytes) -> str | None:
        request = urllib.request.Request(  # noqa: S310 - the URL is checked to be http(s)
            self.settings.url,
            data=body,
            method="POST",
            headers={
                "Content-Type": "application/json; charset=utf-8",
                "Accept": "application/json",
                "Authorization": f"Bearer {self.settings.token}",
            },
        )
        try:
            with urllib.request.urlopen(request, timeout=self.settings.timeout_s) as response:  # noqa: S310
                payload = response.read(64 * 1024)
        except urllib.error.HTTPError as exc:
            exc.close()
            if exc.code in RETRYABLE_STATUSES:
                raise _Retryable(f"HTTP {exc.code}") from None
            raise SmsDeliveryError(f"HTTP {exc.code}") from None
        except (urllib.error.URLError, TimeoutError, ConnectionError) as exc:
            reason = getattr(exc, "reason", exc)
            raise _Retryable(f"{type(reason).__name__}: {reason}"[:200]) from None
        try:
            gateway_id = json.loads(payload)[self.settings.id_field]
        except (ValueError, KeyError, TypeError, IndexError):
            # Accepted (2xx) but without an id: it counts as sent, never send it twice.
            log.warning("sms gateway accepted a message without a readable id")
            return None
        return str(gateway_id)[:128]

    def _record(
        self,
        to: str,
        sender: str,
        status: str,
        attempts: int,
        *,
        gateway_id: str | None = None,
        error: str | None = None,
    ) -> SmsDispatch:
        with write_transaction():
            return SmsDispatch.create(
                driver=self.name,
                to_masked=mask_phone(to),
                sender=sender,
                status=status,
                attempts=attempts,
                gateway_id=gateway_id,
                error=error[:200] if error else None,
            )
