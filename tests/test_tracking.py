"""The tracking page's logic on SQLite and PostgreSQL: no enumeration, limits, public history."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from sync_server.audit.models import AuditEvent
from sync_server.db import bind, database
from sync_server.otp import OtpAttemptsExceededError, OtpService
from sync_server.petitions import service as petitions
from sync_server.petitions.models import Petition
from sync_server.ratelimit import RateLimitedError
from sync_server.sms import SinkGateway
from sync_server.sms.models import SentSms
from sync_server.tracking import service
from sync_server.tracking.service import PublicStep, TrackingInputError, TrackingLimits
from tests.petition_fixtures import PHONE, file_petitions

OTHER_PHONE = "0898765432"
IP = "192.0.2.10"


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


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
def otp(db, clock) -> OtpService:
    return OtpService(b"tracking-test-secret", SinkGateway(clock), clock=clock)


@pytest.fixture
def limits() -> TrackingLimits:
    return TrackingLimits.from_config({})


def check(ticket_id: str, code: str, number: str, otp: OtpService, limits: TrackingLimits) -> bool:
    """The page's code check for ``number`` from the test's address."""
    return service.verify(ticket_id, code, number=number, ip=IP, otp=otp, limits=limits)


def sms_code() -> str:
    row = SentSms.select().order_by(SentSms.id.desc()).get()
    return re.search(r"\b(\d{6})\b", row.text).group(1)


def test_the_right_pair_gets_a_code_and_the_code_opens_the_history(otp, limits):
    (number,) = file_petitions("st-a", 1)
    typed = f"  {number.lower()} "
    canonical, ticket = service.start(typed, "081-234-5678", ip=IP, otp=otp, limits=limits)
    assert canonical == number
    assert ticket.sms_id is not None
    sms = SentSms.get()
    assert (sms.to, sms.sender) == (PHONE, "OSS-LOCAL")
    assert check(ticket.id, sms_code(), number, otp, limits) is True
    received_at = Petition.get_by_id(number).received_at
    assert service.status_history(number) == [PublicStep("received", received_at)]


def test_a_wrong_phone_or_unknown_number_looks_the_same_and_sends_nothing(otp, limits):
    (number,) = file_petitions("st-a", 1)
    missing = number.replace("0000001", "0000002")[:-1] + "Z"  # well formed, never filed
    for typed_number, phone in ((number, OTHER_PHONE), (missing, PHONE)):
        canonical, ticket = service.start(typed_number, phone, ip=IP, otp=otp, limits=limits)
        assert canonical == typed_number
        assert ticket.sms_id is None and len(ticket.id) == 32
        assert ticket.expires_at == otp.clock() + timedelta(minutes=5)
        # Wrong codes count exactly as on a real ticket, then it burns.
        assert check(ticket.id, "123456", canonical, otp, limits) is False
        assert otp.attempts_left(ticket.id) == 2
        assert check(ticket.id, "234567", canonical, otp, limits) is False
        with pytest.raises(OtpAttemptsExceededError):
            check(ticket.id, "345678", canonical, otp, limits)
    assert SentSms.select().count() == 0


def test_badly_formed_input_is_refused_before_any_limit_or_lookup(otp, limits):
    with pytest.raises(TrackingInputError) as bad_number:
        service.start("P-123", PHONE, ip=IP, otp=otp, limits=limits)
    assert bad_number.value.field == "number"
    with pytest.raises(TrackingInputError) as bad_phone:
        service.start("P-ST-A-0000001-X", "12345", ip=IP, otp=otp, limits=limits)
    assert bad_phone.value.field == "phone"
    assert AuditEvent.select().count() == 0


def test_three_tries_per_petition_number_whatever_the_phone(otp, limits, clock):
    (number,) = file_petitions("st-a", 1)
    for phone in (OTHER_PHONE, "0811111111", PHONE):
        service.start(number, phone, ip=f"198.51.100.{phone[-1]}", otp=otp, limits=limits)
    with pytest.raises(RateLimitedError) as limited:
        service.start(number, PHONE, ip="203.0.113.9", otp=otp, limits=limits)
    assert limited.value.limit.name == "track-number"
    clock.now += timedelta(minutes=15)
    service.start(number, PHONE, ip="203.0.113.9", otp=otp, limits=limits)


def test_a_limited_real_pair_and_a_limited_wrong_pair_answer_alike(otp, limits):
    real, fake = file_petitions("st-a", 2)
    outcomes = []
    for number, phone in ((real, PHONE), (fake, OTHER_PHONE)):
        for _ in range(3):
            service.start(number, phone, ip=IP + number[-1], otp=otp, limits=limits)
        with pytest.raises(RateLimitedError) as limited:
            service.start(number, phone, ip=IP + number[-1], otp=otp, limits=limits)
        outcomes.append((limited.value.limit.name, limited.value.retry_after_s))
    assert outcomes[0] == outcomes[1]


def test_ten_tries_per_ip_address_over_any_numbers(otp, limits):
    numbers = file_petitions("st-a", 11)
    for index, number in enumerate(numbers[:10]):
        service.start(number, f"08{index:08d}", ip=IP, otp=otp, limits=limits)
    with pytest.raises(RateLimitedError) as limited:
        service.start(numbers[10], "0822222222", ip=IP, otp=otp, limits=limits)
    assert limited.value.limit.name == "track-ip"
    service.start(numbers[10], "0822222222", ip="192.0.2.99", otp=otp, limits=limits)


def test_per_phone_limit(otp, limits):
    numbers = file_petitions("st-a", 4)
    for number in numbers[:3]:
        service.start(number, PHONE, ip=IP, otp=otp, limits=limits)
    with pytest.raises(RateLimitedError) as limited:
        service.start(numbers[3], PHONE, ip="192.0.2.77", otp=otp, limits=limits)
    assert limited.value.limit.name == "track-phone"


def test_code_guessing_is_limited_per_ip_across_tickets(otp, clock):
    limits = TrackingLimits.from_config({"TRACK_CODE_IP_LIMIT": 4})
    numbers = file_petitions("st-a", 2)
    tickets = [
        service.start(n, OTHER_PHONE, ip=f"10.0.0.{i}", otp=otp, limits=limits)[1]
        for i, n in enumerate(numbers)
    ]
    for ticket in tickets:
        for guess in ("000001", "000002"):
            assert check(ticket.id, guess, numbers[0], otp, limits) is False
    with pytest.raises(RateLimitedError):
        check(tickets[0].id, "000003", numbers[0], otp, limits)


def test_the_public_history_has_statuses_and_times_only(otp, limits):
    (number,) = file_petitions("st-a", 1, citizen_id="0123456789012")
    petitions.change_status(number, "in_review", actor="officer-malee", comment="internal note")
    steps = service.status_history(number)
    assert [step.status for step in steps] == ["received", "in_review"]
    assert all(set(vars(step)) == {"status", "at"} for step in steps)
