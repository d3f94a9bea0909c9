"""The OTP service on SQLite and PostgreSQL: codes, expiry, attempts, rate limits, hashing."""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from devtools.net import free_port
from sync_server.audit.models import AuditEvent
from sync_server.db import bind, database
from sync_server.otp import (
    OtpAttemptsExceededError,
    OtpCode,
    OtpDeliveryError,
    OtpExpiredError,
    OtpPolicy,
    OtpRateLimitedError,
    OtpService,
)
from sync_server.sms import HttpGateway, HttpGatewaySettings, SinkGateway
from sync_server.sms.models import SentSms

PHONE = "0812345678"
OTHER_PHONE = "0898765432"
SECRET = b"otp-test-secret-0123456789"


class Clock:
    """A clock the test moves by hand: no test waits on real time."""

    def __init__(self) -> None:
        self.now = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


@pytest.fixture
def db(database_url: str) -> Iterator[None]:
    bind(database_url)
    database.connect(reuse_if_open=True)
    yield
    database.close()


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def service(db, clock) -> OtpService:
    return OtpService(SECRET, SinkGateway(clock), clock=clock)


def last_code(phone: str = PHONE) -> str:
    """The code in the latest SMS the sink "sent" to ``phone``."""
    row = SentSms.select().where(SentSms.to == phone).order_by(SentSms.id.desc()).get()
    return re.search(r"\b(\d{6})\b", row.text).group(1)


def test_issue_sends_six_digits_from_oss_local_and_the_code_verifies_once(service):
    ticket = service.issue(PHONE, "tracking")
    sms = SentSms.get()
    assert (sms.to, sms.sender) == (PHONE, "OSS-LOCAL")
    code = last_code()
    assert re.fullmatch(r"\d{6}", code)
    assert ticket.sms_id == f"sink-{sms.id}"
    assert ticket.expires_at == service.clock() + timedelta(minutes=5)

    assert service.verify("tracking", code, ticket_id=ticket.id) is True
    with pytest.raises(OtpExpiredError) as used:
        service.verify("tracking", code, ticket_id=ticket.id)
    assert used.value.reason == "used"


def test_the_sms_is_in_the_language_asked_else_the_configured_default(db):
    from sync_server.otp import service_from_config

    config = {"SECRET_KEY": "worker-secret", "DEFAULT_LANGUAGE": "vi"}
    worker = service_from_config(config, SinkGateway())  # as a worker builds it: no Flask app
    worker.issue(PHONE, "petition")
    worker.issue(PHONE, "tracking", language="en")
    OtpService(SECRET, SinkGateway()).issue(OTHER_PHONE, "kiosk_password_reset")
    texts = [row.text for row in SentSms.select().order_by(SentSms.id)]
    assert re.fullmatch(
        r"Mã xác nhận nộp đơn: \d{6}, hiệu lực 5 phút\. Không chia sẻ mã này với bất kỳ ai\.",
        texts[0],
    )
    assert re.fullmatch(r"Tracking code: \d{6}, valid 5 min\. Do not share it\.", texts[1])
    assert texts[2].startswith("รหัส OTP รีเซ็ตรหัสผ่าน: ")  # no configuration: Thai


def test_codes_are_stored_hashed_and_neither_code_nor_number_reaches_the_audit(service):
    ticket = service.issue(PHONE, "petition")
    code = last_code()
    service.verify("petition", "000000" if code != "000000" else "111111", ticket_id=ticket.id)
    service.verify("petition", code, ticket_id=ticket.id)
    row = OtpCode.select().dicts().get()
    stored = " ".join(str(value) for value in row.values())
    assert code not in stored and PHONE not in stored
    assert len(row["code_hash"]) == 64
    events = list(AuditEvent.select().order_by(AuditEvent.id))
    assert [(e.action, e.outcome) for e in events] == [
        ("otp.issue", "sent"),
        ("otp.verify", "wrong"),
        ("otp.verify", "ok"),
    ]
    for event in events:
        text = f"{event.actor} {event.action} {event.subject} {event.outcome}"
        assert code not in text and PHONE not in text
        assert event.subject == f"otp:{ticket.id}"


def test_a_code_expires_after_five_minutes(service, clock):
    ticket = service.issue(PHONE, "tracking")
    code = last_code()
    wrong = f"{(int(code) + 1) % 1_000_000:06d}"
    clock.advance(minutes=4, seconds=59)
    assert service.verify("tracking", wrong, ticket_id=ticket.id) is False  # still live
    clock.advance(seconds=1)
    with pytest.raises(OtpExpiredError) as expired:
        service.verify("tracking", code, ticket_id=ticket.id)
    assert expired.value.reason == "expired"


def test_three_wrong_codes_burn_it(service):
    ticket = service.issue(PHONE, "eid_register")
    code = last_code()
    wrong = f"{(int(code) + 1) % 1_000_000:06d}"
    assert service.verify("eid_register", wrong, ticket_id=ticket.id) is False
    assert service.verify("eid_register", "abc", ticket_id=ticket.id) is False
    with pytest.raises(OtpAttemptsExceededError):
        service.verify("eid_register", wrong, ticket_id=ticket.id)
    with pytest.raises(OtpAttemptsExceededError):  # the right code no longer helps
        service.verify("eid_register", code, ticket_id=ticket.id)
    assert OtpCode.get_by_id(ticket.id).closed == "burnt"


def test_a_code_is_bound_to_its_purpose(service):
    ticket = service.issue(PHONE, "tracking")
    with pytest.raises(OtpExpiredError) as unknown:
        service.verify("kiosk_password_reset", last_code(), ticket_id=ticket.id)
    assert unknown.value.reason == "unknown"
    assert service.verify("tracking", last_code(), ticket_id=ticket.id)
    with pytest.raises(ValueError, match="purpose"):
        service.issue(PHONE, "lottery")


def test_verify_by_number_uses_the_latest_code_and_a_new_code_supersedes(service):
    first = service.issue(PHONE, "kiosk_password_reset")
    first_code = last_code()
    second = service.issue(PHONE, "kiosk_password_reset")
    second_code = last_code()
    with pytest.raises(OtpExpiredError) as superseded:
        service.verify("kiosk_password_reset", first_code, ticket_id=first.id)
    assert superseded.value.reason == "superseded"
    if first_code != second_code:
        assert service.verify("kiosk_password_reset", first_code, phone=PHONE) is False
    assert service.verify("kiosk_password_reset", second_code, phone=PHONE) is True
    assert OtpCode.get_by_id(second.id).closed == "used"
    with pytest.raises(OtpExpiredError):
        service.verify("kiosk_password_reset", second_code, phone=OTHER_PHONE)


def test_rate_limit_three_per_number_and_purpose_per_fifteen_minutes(service, clock):
    for _ in range(3):
        service.issue(PHONE, "tracking")
        clock.advance(minutes=1)
    with pytest.raises(OtpRateLimitedError) as limited:
        service.issue(PHONE, "tracking")
    assert limited.value.retry_after_s == 12 * 60  # the first one leaves the window then
    assert SentSms.select().count() == 3  # nothing sent when refused
    service.issue(PHONE, "petition")  # another purpose has its own allowance
    service.issue(OTHER_PHONE, "tracking")  # and another number
    clock.advance(minutes=12)
    service.issue(PHONE, "tracking")
    assert AuditEvent.select().where(AuditEvent.outcome == "rate_limited").count() == 1


def test_rate_limit_per_number_over_all_purposes(db, clock):
    policy = OtpPolicy(per_purpose_limit=10, per_number_limit=4)
    service = OtpService(SECRET, SinkGateway(clock), policy, clock=clock)
    for purpose in ("tracking", "petition", "eid_register", "kiosk_password_reset"):
        service.issue(PHONE, purpose)
    with pytest.raises(OtpRateLimitedError):
        service.issue(PHONE, "tracking")
    clock.advance(hours=1)
    service.issue(PHONE, "tracking")


def test_a_failed_sms_is_reported_and_still_counts(db, clock):
    dead = HttpGateway(
        HttpGatewaySettings(url=f"http://127.0.0.1:{free_port()}/", token="t", attempts=1)
    )
    service = OtpService(SECRET, dead, clock=clock)
    for _ in range(3):
        with pytest.raises(OtpDeliveryError):
            service.issue(PHONE, "petition")
    with pytest.raises(OtpRateLimitedError):
        service.issue(PHONE, "petition")
    assert AuditEvent.select().where(AuditEvent.outcome == "sms_failed").count() == 3


def test_a_decoy_ticket_behaves_like_a_real_one_and_never_verifies(service):
    decoy = service.issue_decoy("tracking")
    assert decoy.sms_id is None
    assert SentSms.select().count() == 0
    assert service.verify("tracking", "123456", ticket_id=decoy.id) is False
    assert service.verify("tracking", "654321", ticket_id=decoy.id) is False
    with pytest.raises(OtpAttemptsExceededError):
        service.verify("tracking", "000000", ticket_id=decoy.id)


def test_only_one_of_two_concurrent_verifications_wins(service):
    ticket = service.issue(PHONE, "petition")
    code = last_code()
    results: list[object] = []
    start = threading.Barrier(2)

    def verify() -> None:
        start.wait()
        try:
            results.append(service.verify("petition", code, ticket_id=ticket.id))
        except OtpExpiredError as exc:
            results.append(exc.reason)
        finally:
            database.close()

    threads = [threading.Thread(target=verify) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert sorted(results, key=str) == [True, "used"]


def test_concurrent_requests_never_exceed_the_limit(db, clock):
    service = OtpService(SECRET, SinkGateway(clock), clock=clock)
    outcomes: list[str] = []
    start = threading.Barrier(6)

    def ask() -> None:
        start.wait()
        try:
            service.issue(PHONE, "tracking")
            outcomes.append("sent")
        except OtpRateLimitedError:
            outcomes.append("limited")
        finally:
            database.close()

    threads = [threading.Thread(target=ask) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert sorted(outcomes) == ["limited"] * 3 + ["sent"] * 3
    assert SentSms.select().count() == 3


def test_the_app_level_api_issues_and_verifies_by_ticket_or_number(sqlite_url):
    from sync_server import create_app
    from sync_server.otp import issue_otp, otp_service, verify_otp

    app = create_app(
        {"TESTING": True, "SECRET_KEY": "app-level-secret", "DATABASE_URL": sqlite_url}
    )
    with app.app_context():
        ticket = issue_otp(PHONE, "kiosk_password_reset")
        assert otp_service() is otp_service()  # one service per app
        assert verify_otp(ticket.id, "kiosk_password_reset", "not-it") is False
        assert verify_otp(ticket.id, "kiosk_password_reset", last_code()) is True
        issue_otp(PHONE, "eid_register")
        assert verify_otp(PHONE, "eid_register", last_code()) is True
        with pytest.raises(OtpExpiredError):
            verify_otp(PHONE, "eid_register", last_code())
    database.close()


def test_code_rows_are_deleted_a_day_after_issue(service, clock):
    old = service.issue(PHONE, "tracking")
    clock.advance(hours=23)
    kept = service.issue(OTHER_PHONE, "tracking")
    clock.advance(hours=1, seconds=1)
    service.issue(OTHER_PHONE, "petition")
    assert OtpCode.get_or_none(OtpCode.id == old.id) is None
    assert OtpCode.get_or_none(OtpCode.id == kept.id) is not None
