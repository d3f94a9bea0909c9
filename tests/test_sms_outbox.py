"""The SMS outbox: seed 004's filing SMS survives a gateway outage and is sent once.

The end-to-end test runs a real station filing over the real broker, the ingest worker, the
outbox worker and the production HTTP driver against a provider that is down (nothing
listens), then up. The others drive :class:`Outbox` directly on SQLite and PostgreSQL.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from devtools.net import free_port
from sync_server.audit.models import AuditEvent
from sync_server.db import bind, database
from sync_server.ingest.apply import apply_batch
from sync_server.petitions.models import Petition
from sync_server.sms import HttpGateway, HttpGatewaySettings, SinkGateway
from sync_server.sms.models import SentSms, SmsOutbox
from sync_server.sms.outbox import Outbox, OutboxError, OutboxWorker, enqueue, register_template
from tests.helpers import wait_until
from tests.petition_fixtures import PHONE, file_petitions, last_batch

TRACK = "https://dcs.example.invalid/track?number={number}"
register_template("test.hello", lambda params, language, config: f"hello {params['name']}")


class Provider(ThreadingHTTPServer):
    """An SMS provider's HTTP API on a fixed port: records every message it accepts."""

    def __init__(self, port: int) -> None:
        super().__init__(("127.0.0.1", port), _Handler)
        self.accepted: list[dict] = []
        threading.Thread(target=self.serve_forever, daemon=True).start()


class _Handler(BaseHTTPRequestHandler):
    server: Provider

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        self.server.accepted.append(body)
        payload = json.dumps({"id": f"prov-{len(self.server.accepted)}"}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def db(database_url: str) -> Iterator[None]:
    bind(database_url)
    database.connect(reuse_if_open=True)
    yield
    database.close()


class Clock:
    """A settable clock, so retries and expiry are tested without waiting."""

    def __init__(self) -> None:
        self.now = datetime(2026, 12, 1, 9, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


def outbox(gateway=None, clock=None, **config: object) -> Outbox:
    settings = {"TRACKING_URL": TRACK, "SMS_OUTBOX_BACKOFF_S": 10, **config}
    return Outbox(gateway or SinkGateway(), settings, clock=clock or Clock(), jitter=lambda: 1.0)


def dead_gateway() -> HttpGateway:
    return HttpGateway(
        HttpGatewaySettings(url=f"http://127.0.0.1:{free_port()}/", token="t", attempts=1)
    )


def test_the_filing_sms_survives_a_gateway_outage_and_is_sent_once(
    server_app, ingest, station_factory
):
    """Seed 004: number and tracking link, from OSS-LOCAL, in the language it was filed in."""
    port = free_port()
    gateway = HttpGateway(
        HttpGatewaySettings(url=f"http://127.0.0.1:{port}/sms", token="t", attempts=1)
    )
    config = {"TRACKING_URL": TRACK, "SMS_OUTBOX_BACKOFF_S": 0.05, "SMS_OUTBOX_BACKOFF_MAX_S": 0.2}
    station = station_factory()
    with database.connection_context(), OutboxWorker(Outbox(gateway, config), poll_s=0.05):
        number = station.file_petition(
            "general_petition", PHONE, {"subject": "ลิฟต์เสีย"}, language="vi"
        )
        wait_until(lambda: Petition.get_or_none(Petition.number == number), "the petition")

        # The provider is down: the message waits in the outbox, tried again and again.
        def retried() -> SmsOutbox | None:
            row = SmsOutbox.get_or_none(SmsOutbox.dedupe_key == f"petition.filed:{number}")
            return row if row is not None and row.attempts >= 3 else None

        waiting = wait_until(retried, "a few failed attempts")
        assert waiting.state in ("pending", "sending") and waiting.to == PHONE
        assert "ConnectionRefused" in waiting.last_error

        provider = Provider(port)  # the gateway is back
        try:
            wait_until(lambda: provider.accepted, "the SMS at the provider")

            def final() -> SmsOutbox | None:
                row = SmsOutbox.get(SmsOutbox.dedupe_key == f"petition.filed:{number}")
                return row if row.state == "sent" else None

            sent = wait_until(final, "the outbox row marked sent")
            (message,) = provider.accepted
            link = TRACK.format(number=number)
            assert message == {
                "to": PHONE,
                "sender": "OSS-LOCAL",
                "text": f"Đơn số {number} của bạn đã được tiếp nhận. Theo dõi tại: {link}",
            }
            assert (sent.to, sent.params, sent.gateway_id) == ("081-XXX-5678", "{}", "prov-1")
            assert Petition.get_by_id(number).language == "vi"
        finally:
            provider.shutdown()
            provider.server_close()
    assert len(provider.accepted) == 1


def test_a_redelivered_petition_never_texts_twice(db):
    (number,) = file_petitions("st-a", 1, language="th")
    # the same transaction again, as a station resends it when its ack was lost
    acks, _ = apply_batch(database.obj, last_batch())
    assert [item.outcome for items in acks.values() for item in items] == ["duplicate"]
    assert SmsOutbox.select().where(SmsOutbox.template == "petition.filed").count() == 1
    for _ in range(2):
        outbox(clock=lambda: datetime.now(UTC) + timedelta(days=1)).deliver_due()
    (sms,) = SentSms.select()
    link = TRACK.format(number=number)
    assert sms.text == f"ได้รับคำร้องเลขที่ {number} ของท่านแล้ว ติดตามสถานะได้ที่ {link}"


def test_one_message_per_dedupe_key_and_unknown_templates_refused(db):
    first = enqueue(PHONE, "test.hello", {"name": "a"}, dedupe_key="k1")
    assert first is not None
    assert enqueue(PHONE, "test.hello", {"name": "b"}, dedupe_key="k1") is None
    with pytest.raises(OutboxError, match="no SMS template"):
        enqueue(PHONE, "no.such", {})
    outbox(clock=lambda: datetime.now(UTC)).deliver_due()
    assert [row.text for row in SentSms.select()] == ["hello a"]


def test_failures_back_off_doubling_then_give_up_after_the_maximum_age(db):
    clock = Clock()
    message = enqueue(PHONE, "test.hello", {"name": "x"}, now=clock.now)
    box = outbox(dead_gateway(), clock, SMS_OUTBOX_MAX_AGE_S=3600)
    delays = []
    for _ in range(4):
        (delivery,) = box.deliver_due()
        assert delivery.state == "pending"
        due = SmsOutbox.get_by_id(message).next_attempt_at.replace(tzinfo=UTC)
        delays.append((due - clock.now).total_seconds())
        assert box.deliver_due() == []  # not due yet
        clock.now = due
    assert delays == [10, 20, 40, 80]  # doubling (jitter pinned to its maximum)
    clock.now += timedelta(hours=1)
    (delivery,) = box.deliver_due()
    assert delivery.state == "failed"
    row = SmsOutbox.get_by_id(message)
    assert (row.state, row.to, row.params) == ("failed", "081-XXX-5678", "{}")
    assert AuditEvent.get(AuditEvent.action == "sms.test.hello").outcome == "failed"


def test_a_message_past_its_expiry_is_never_sent(db):
    clock = Clock()
    message = enqueue(
        PHONE,
        "test.hello",
        {"name": "late"},
        expires_at=clock.now + timedelta(minutes=5),
        now=clock.now,
    )
    clock.now += timedelta(minutes=6)
    (delivery,) = outbox(clock=clock).deliver_due()
    assert delivery.state == "expired" and SentSms.select().count() == 0
    assert SmsOutbox.get_by_id(message).params == "{}"


def test_a_claimed_message_is_not_sent_by_a_second_worker_until_its_lease_runs_out(db):
    clock = Clock()
    message = enqueue(PHONE, "test.hello", {"name": "once"}, now=clock.now)
    first = outbox(clock=clock)
    assert first._claim(message) is not None  # a worker took it, then died mid-send
    assert outbox(clock=clock).deliver_due() == []
    clock.now += timedelta(seconds=121)  # the lease ran out
    (delivery,) = outbox(clock=clock).deliver_due()
    assert delivery.state == "sent"
    assert SmsOutbox.get_by_id(message).attempts == 2
