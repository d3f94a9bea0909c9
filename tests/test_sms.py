"""SMS drivers: the local sink, and the HTTP driver against a real HTTP server on loopback."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from devtools.net import free_port
from sync_server import create_app
from sync_server.config import ServerConfigError
from sync_server.db import bind, database
from sync_server.sms import (
    HttpGateway,
    HttpGatewaySettings,
    SinkGateway,
    SmsAddressError,
    SmsDeliveryError,
    SmsGateway,
    gateway_from_config,
    mask_phone,
)
from sync_server.sms.models import SentSms, SmsDispatch

PHONE = "0812345678"


@pytest.fixture
def db(database_url: str) -> Iterator[None]:
    bind(database_url)
    database.connect(reuse_if_open=True)
    yield
    database.close()


class ProviderStub(ThreadingHTTPServer):
    """A real HTTP server playing an SMS provider: answers from a script, records requests."""

    def __init__(self, script: list[tuple[int, object]]) -> None:
        super().__init__(("127.0.0.1", free_port()), _ProviderHandler)
        self.script = list(script)
        self.requests: list[dict] = []
        self.release = threading.Event()  # a (0, None) step blocks until this is set

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/v1/messages"


class _ProviderHandler(BaseHTTPRequestHandler):
    server: ProviderStub

    def do_POST(self) -> None:
        length = int(self.headers["Content-Length"])
        self.server.requests.append(
            {
                "path": self.path,
                "authorization": self.headers["Authorization"],
                "content_type": self.headers["Content-Type"],
                "body": json.loads(self.rfile.read(length)),
            }
        )
        status, answer = self.server.script.pop(0) if self.server.script else (200, {"id": "x"})
        if status == 0:  # hang: the client's timeout must fire
            self.server.release.wait(30)
            return
        payload = answer if isinstance(answer, bytes) else json.dumps(answer).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, format: str, *args: object) -> None:
        pass  # keep test output clean


@pytest.fixture
def provider() -> Iterator[ProviderStub]:
    servers: list[ProviderStub] = []

    def make(script: list[tuple[int, object]]) -> ProviderStub:
        server = ProviderStub(script)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return server

    yield make
    for server in servers:
        server.release.set()
        server.shutdown()
        server.server_close()


def http_gateway(url: str, sleeps: list[float], **settings: object) -> HttpGateway:
    return HttpGateway(
        HttpGatewaySettings(url=url, token="test-token-123", **settings), sleep=sleeps.append
    )


def test_mask_phone_keeps_prefix_and_last_four():
    assert mask_phone(PHONE) == "081-XXX-5678"
    assert mask_phone("123") == "XXX"


def test_sink_stores_the_message_and_returns_its_id(db):
    sink = SinkGateway()
    assert isinstance(sink, SmsGateway)
    message_id = sink.send(PHONE, "รหัส 123456 / code 123456")
    row = SentSms.get()
    assert message_id == f"sink-{row.id}"
    assert (row.to, row.text, row.sender, row.status) == (
        PHONE,
        "รหัส 123456 / code 123456",
        "OSS-LOCAL",
        "delivered",
    )
    assert row.created_at is not None


def test_sink_refuses_what_is_not_a_thai_mobile_number(db):
    for bad in ("812345678", "+66812345678", "08123456789", "08123x5678"):
        with pytest.raises(SmsAddressError):
            SinkGateway().send(bad, "hello")
    assert SentSms.select().count() == 0


def test_http_driver_posts_json_with_bearer_token(db, provider):
    server = provider([(200, {"id": "gw-42"})])
    sleeps: list[float] = []
    message_id = http_gateway(server.url, sleeps).send(PHONE, "สวัสดี hello", sender="OSS-LOCAL")
    assert message_id == "gw-42"
    assert server.requests == [
        {
            "path": "/v1/messages",
            "authorization": "Bearer test-token-123",
            "content_type": "application/json; charset=utf-8",
            "body": {"to": PHONE, "text": "สวัสดี hello", "sender": "OSS-LOCAL"},
        }
    ]
    assert sleeps == []
    dispatch = SmsDispatch.get()
    assert (dispatch.status, dispatch.attempts, dispatch.gateway_id, dispatch.error) == (
        "sent",
        1,
        "gw-42",
        None,
    )
    assert dispatch.to_masked == "081-XXX-5678"


def test_http_driver_field_names_are_configurable(db, provider):
    server = provider([(201, {"message_id": 7})])
    gateway = http_gateway(
        server.url,
        [],
        fields={"to": "msisdn", "text": "message", "sender": "from"},
        id_field="message_id",
    )
    assert gateway.send(PHONE, "hi") == "7"
    assert server.requests[0]["body"] == {"msisdn": PHONE, "message": "hi", "from": "OSS-LOCAL"}


def test_http_driver_retries_throttling_and_server_errors_with_doubling_backoff(db, provider):
    server = provider([(503, {}), (429, {}), (200, {"id": "third-time"})])
    sleeps: list[float] = []
    gateway = http_gateway(server.url, sleeps, attempts=4, backoff_s=0.25)
    assert gateway.send(PHONE, "hi") == "third-time"
    assert len(server.requests) == 3
    assert sleeps == [0.25, 0.5]
    assert SmsDispatch.get().attempts == 3


def test_http_driver_gives_up_after_its_attempts_and_records_the_error(db, provider):
    server = provider([(500, {}), (502, {}), (503, {})])
    sleeps: list[float] = []
    with pytest.raises(SmsDeliveryError, match="HTTP 503"):
        http_gateway(server.url, sleeps, attempts=3, backoff_s=1, backoff_max_s=1.5).send(
            PHONE, "secret text 654321"
        )
    assert len(server.requests) == 3
    assert sleeps == [1, 1.5]
    dispatch = SmsDispatch.get()
    assert (dispatch.status, dispatch.attempts, dispatch.error) == ("failed", 3, "HTTP 503")
    stored = " ".join(str(v) for v in SmsDispatch.select().dicts().get().values())
    assert "654321" not in stored and PHONE not in stored  # no text, no full number


def test_http_driver_does_not_retry_a_refusal(db, provider):
    server = provider([(400, {"error": f"bad number {PHONE}"})])
    sleeps: list[float] = []
    with pytest.raises(SmsDeliveryError, match="HTTP 400"):
        http_gateway(server.url, sleeps).send(PHONE, "hi")
    assert len(server.requests) == 1
    assert sleeps == []
    assert PHONE not in (SmsDispatch.get().error or "")


def test_http_driver_times_out_and_retries_a_hung_provider(db, provider):
    server = provider([(0, None), (200, {"id": "after-timeout"})])
    sleeps: list[float] = []
    assert http_gateway(server.url, sleeps, timeout_s=0.3).send(PHONE, "hi") == "after-timeout"
    assert len(server.requests) == 2
    assert len(sleeps) == 1


def test_http_driver_records_an_unreachable_provider(db):
    url = f"http://127.0.0.1:{free_port()}/sms"  # nothing listens there
    sleeps: list[float] = []
    with pytest.raises(SmsDeliveryError, match="ConnectionRefusedError"):
        http_gateway(url, sleeps, attempts=2).send(PHONE, "hi")
    assert SmsDispatch.get().status == "failed"
    assert sleeps == [0.5]


def test_http_driver_counts_an_answer_without_id_as_sent(db, provider):
    server = provider([(202, b"accepted")])
    message_id = http_gateway(server.url, []).send(PHONE, "hi")
    dispatch = SmsDispatch.get()
    assert message_id == f"dispatch-{dispatch.id}"
    assert (dispatch.status, dispatch.gateway_id) == ("sent", None)
    assert len(server.requests) == 1  # never sent twice


def test_config_chooses_the_driver():
    assert isinstance(gateway_from_config({"SMS_GATEWAY": "sink"}), SinkGateway)
    gateway = gateway_from_config(
        {
            "SMS_GATEWAY": "http",
            "SMS_HTTP_URL": "https://sms.example.invalid/send",
            "SMS_HTTP_TOKEN": "t",
            "SMS_HTTP_ATTEMPTS": 5,
        }
    )
    assert isinstance(gateway, HttpGateway)
    assert gateway.settings.attempts == 5
    with pytest.raises(ValueError, match="SMS_HTTP_TOKEN"):
        gateway_from_config({"SMS_GATEWAY": "http", "SMS_HTTP_URL": "https://x.invalid/"})
    with pytest.raises(ValueError, match="sink"):
        gateway_from_config({"SMS_GATEWAY": "carrier-pigeon"})


def test_app_refuses_to_start_with_a_broken_sms_config(sqlite_url):
    with pytest.raises(ServerConfigError, match="SMS gateway"):
        create_app(
            {
                "TESTING": True,
                "SECRET_KEY": "k",
                "DATABASE_URL": sqlite_url,
                "SMS_GATEWAY": "http",
                "SMS_HTTP_URL": "ftp://x",
            }
        )
    database.close()
