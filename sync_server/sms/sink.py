"""The local sink: "sends" by storing the message in ``SentSms`` (demo and tests)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from sync_server.db import write_transaction
from sync_server.sms.gateway import DEFAULT_SENDER, check_number
from sync_server.sms.models import SentSms, utc_now


class SinkGateway:
    """Stores every message; the staff page ``/sms/sent`` lists them."""

    name = "sink"

    def __init__(self, clock: Callable[[], datetime] = utc_now) -> None:
        self._clock = clock

    def send(self, to: str, text: str, sender: str = DEFAULT_SENDER) -> str:
        """Store the message and return ``sink-<row id>``."""
        check_number(to)
        with write_transaction():
            row = SentSms.create(to=to, text=text, sender=sender, created_at=self._clock())
        return f"sink-{row.id}"
