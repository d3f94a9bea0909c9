"""Real receivers for the notification tests: an SMTP server (aiosmtpd) and a webhook
receiver (an HTTP server), each on a free loopback port, recording what they get."""

from __future__ import annotations

import json
import threading
from email import message_from_bytes, policy
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from aiosmtpd.controller import Controller

from devtools.net import free_port
from sync_server.notifications.senders import SIGNATURE_HEADER, TIMESTAMP_HEADER, signature


class SmtpSink:
    """An SMTP server on loopback that keeps every message it accepts."""

    def __init__(self) -> None:
        self.messages: list[EmailMessage] = []
        self.recipients: list[list[str]] = []
        self.port = free_port()
        self._controller = Controller(self, hostname="127.0.0.1", port=self.port)

    async def handle_DATA(self, server: object, session: object, envelope: object) -> str:
        """aiosmtpd's hook: one message received."""
        parsed = message_from_bytes(envelope.content, policy=policy.default)  # type: ignore[attr-defined]
        self.messages.append(parsed)  # type: ignore[arg-type]
        self.recipients.append(list(envelope.rcpt_tos))  # type: ignore[attr-defined]
        return "250 OK"

    def __enter__(self) -> SmtpSink:
        self._controller.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._controller.stop()


class WebhookReceiver(ThreadingHTTPServer):
    """An HTTP endpoint that checks each call's signature and answers from ``statuses``
    (one per call, then 200)."""

    def __init__(self, secret: bytes, statuses: list[int] | None = None) -> None:
        super().__init__(("127.0.0.1", free_port()), _Hook)
        self.secret = secret
        self.statuses = list(statuses or [])
        self.calls: list[dict] = []
        self.thread = threading.Thread(target=self.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        """Where to POST."""
        return f"http://127.0.0.1:{self.server_address[1]}/hooks/dcs"

    def __enter__(self) -> WebhookReceiver:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.shutdown()
        self.server_close()


class _Hook(BaseHTTPRequestHandler):
    server: WebhookReceiver

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        expected = signature(self.server.secret, self.headers[TIMESTAMP_HEADER], body)
        self.server.calls.append(
            {
                "body": json.loads(body),
                "raw": body,
                "signed": self.headers[SIGNATURE_HEADER] == expected,
                "delivery": self.headers["X-DCS-Delivery"],
            }
        )
        status = self.server.statuses.pop(0) if self.server.statuses else 200
        self.send_response(status)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        pass
