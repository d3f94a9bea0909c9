"""The petitions service the back office calls, on SQLite and PostgreSQL: queue, assignment,
status changes whose SMS is queued with them, and a phone number changed by staff."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from devtools.net import free_port
from sync_server.audit.models import AuditEvent
from sync_server.db import bind, database
from sync_server.petitions import service
from sync_server.petitions.models import Petition
from sync_server.petitions.service import PetitionError, QueueFilter
from sync_server.sms import HttpGateway, HttpGatewaySettings, SinkGateway
from sync_server.sms.models import SentSms, SmsOutbox
from sync_server.sms.outbox import Outbox
from tests.petition_fixtures import PHONE, file_petitions

TRACK = "https://dcs.example.invalid/track?number={number}"
CITIZEN_ID = "0123456789012"


def deliver(gateway=None) -> list:
    """One pass of the SMS outbox worker."""
    return Outbox(gateway or SinkGateway(), {"TRACKING_URL": TRACK}).deliver_due()


@pytest.fixture
def db(database_url: str) -> Iterator[None]:
    bind(database_url)
    database.connect(reuse_if_open=True)
    yield
    database.close()


def test_queue_filters_and_pages(db):
    a = file_petitions("st-a", 30)
    b = file_petitions("st-b", 4, service="population_correction", phone="0898765432")
    service.assign(a[0], "officer-malee", assigned_by="admin")
    service.change_status(a[1], "rejected", actor="officer-malee", comment="ซ้ำ")

    first = service.queue(QueueFilter())
    assert (first.total, first.pages, first.page) == (33, 2, 1)  # the rejected one is done
    assert [row.number for row in first.rows] == [a[0], *a[2:26]]  # oldest first
    assert first.rows[0].assignee == "officer-malee"
    second = service.queue(QueueFilter(), page=2)
    assert [row.number for row in second.rows] == [*a[26:], *b]
    assert service.queue(QueueFilter(), page=99).page == 2  # clamped

    assert service.queue(QueueFilter(status="all")).total == 34
    assert [r.number for r in service.queue(QueueFilter(status="rejected")).rows] == [a[1]]
    assert [r.number for r in service.queue(QueueFilter(station="st-b")).rows] == b
    assert [r.number for r in service.queue(QueueFilter(kind="correction")).rows] == b
    assert service.queue(QueueFilter(kind="petition")).total == 29
    assert service.queue(QueueFilter(service="population_correction")).total == 4
    assert [r.number for r in service.queue(QueueFilter(assignee="officer-malee")).rows] == [a[0]]
    assert service.queue(QueueFilter(assignee="unassigned")).total == 32


def test_status_change_records_history_and_texts_the_filing_number(db):
    (number,) = file_petitions("st-a", 1)
    deliver()  # the filing SMS
    result = service.change_status(
        number, "in_review", actor="officer-malee", comment="รับเรื่องแล้ว กำลังตรวจสอบ"
    )
    queued = SmsOutbox.get_by_id(result.sms_id)
    assert (queued.state, queued.to, queued.template) == ("pending", PHONE, "petition.status")

    (delivery,) = deliver()
    sms = SentSms.select().order_by(SentSms.id.desc()).get()
    assert delivery.gateway_id == f"sink-{sms.id}" and delivery.state == "sent"
    assert (sms.to, sms.sender) == (PHONE, "OSS-LOCAL")
    assert number in sms.text
    assert TRACK.format(number=number) in sms.text
    assert "อยู่ระหว่างพิจารณา" in sms.text  # filed without a language: the default, Thai
    assert "กำลังตรวจสอบ" not in sms.text  # the officer's comment stays internal
    sent = SmsOutbox.get_by_id(result.sms_id)
    assert (sent.state, sent.to, sent.params) == ("sent", "081-XXX-5678", "{}")

    view = service.petition_view(number, viewer="officer-malee")
    assert [(s.status, s.actor, s.comment) for s in view.history] == [
        ("received", "station:st-a", None),
        ("in_review", "officer-malee", "รับเรื่องแล้ว กำลังตรวจสอบ"),
    ]
    assert view.status == "in_review"
    assert view.next_statuses == ("waiting_for_citizen", "approved", "rejected")
    assert view.phone_masked == "081-XXX-5678"
    actions = [(e.action, e.outcome) for e in AuditEvent.select().order_by(AuditEvent.id)]
    assert actions == [("petition.status", "in_review"), ("petition.view", "ok")]


def test_each_change_sends_its_own_sms_in_the_filing_language(db):
    (number,) = file_petitions(
        "st-a", 1, service="population_correction", citizen_id=CITIZEN_ID, language="en"
    )
    for status in ("in_review", "waiting_for_citizen", "in_review", "approved", "closed"):
        service.change_status(number, status, actor="o", comment=status)
    deliver()
    texts = [row.text for row in SentSms.select().order_by(SentSms.id)]
    assert len(texts) == 6  # filed + five changes
    assert (
        texts[0] == f"Your petition {number} was received. Track it: {TRACK.format(number=number)}"
    )
    assert "Waiting for the applicant" in texts[2] and "Closed" in texts[5]
    view = service.petition_view(number, viewer="o")
    assert view.citizen_id == CITIZEN_ID
    assert view.form == {"subject": "ไฟทางเดินชั้น 3 ดับ"}


def test_the_status_sms_is_in_the_petitions_language_else_the_servers(db):
    (english,) = file_petitions("st-a", 1, language="en")
    (vietnamese,) = file_petitions("st-b", 1, language="vi")
    (unsaid,) = file_petitions("st-c", 1)  # an older station: no language in the filing
    deliver()  # the filing SMS
    for number in (english, vietnamese, unsaid):
        service.change_status(number, "in_review", actor="o", comment="ok")
    Outbox(SinkGateway(), {"TRACKING_URL": TRACK, "DEFAULT_LANGUAGE": "vi"}).deliver_due()
    texts = [row.text for row in SentSms.select().order_by(SentSms.id)][3:]
    link = TRACK.format(number=english)
    assert texts[0] == f"Petition {english} is now: In review. Track it at {link}"
    assert texts[1].startswith(f"Đơn số {vietnamese} đã chuyển sang tình trạng: Đang xem xét.")
    assert texts[2].startswith(f"Đơn số {unsaid} đã chuyển sang tình trạng:")  # the default


def test_a_change_needs_a_comment_and_an_allowed_transition(db):
    (number,) = file_petitions("st-a", 1)
    with pytest.raises(PetitionError, match="comment"):
        service.change_status(number, "in_review", actor="o", comment="   ")
    with pytest.raises(PetitionError, match="cannot become"):
        service.change_status(number, "closed", actor="o", comment="skip ahead")
    with pytest.raises(PetitionError, match="no petition"):
        service.change_status("P-ST-A-0000099-X", "in_review", actor="o", comment="c")
    assert SmsOutbox.select().where(SmsOutbox.template == "petition.status").count() == 0
    assert Petition.get_by_id(number).status == "received"


def test_an_sms_that_fails_does_not_undo_the_change_and_is_sent_later(db):
    (number,) = file_petitions("st-a", 1)
    dead = HttpGateway(
        HttpGatewaySettings(url=f"http://127.0.0.1:{free_port()}/", token="t", attempts=1)
    )
    result = service.change_status(number, "in_review", actor="o", comment="c")
    outcomes = {d.message_id: d for d in deliver(dead)}
    assert outcomes[result.sms_id].state == "pending"
    assert "ConnectionRefused" in outcomes[result.sms_id].error
    assert Petition.get_by_id(number).status == "in_review"
    waiting = SmsOutbox.get_by_id(result.sms_id)
    assert (waiting.state, waiting.attempts, waiting.to) == ("pending", 1, PHONE)
    SmsOutbox.update(next_attempt_at=SmsOutbox.created_at).execute()  # its retry is due
    deliver()
    assert SmsOutbox.get_by_id(result.sms_id).state == "sent"
    assert SentSms.select().where(SentSms.text.contains("อยู่ระหว่างพิจารณา")).count() == 1


def test_staff_update_the_number_after_verifying_the_citizen(db):
    (number,) = file_petitions("st-a", 1)
    with pytest.raises(PetitionError, match="verified"):
        service.update_phone(number, "0898765432", actor="o", verified_by=" ")
    with pytest.raises(PetitionError, match="mobile"):
        service.update_phone(number, "12345", actor="o", verified_by="ID card")
    with pytest.raises(PetitionError, match="already"):
        service.update_phone(number, "081-234-5678", actor="o", verified_by="ID card")
    service.update_phone(number, "089-876-5432", actor="o", verified_by="ID card at the office")

    assert Petition.get_by_id(number).phone == "0898765432"
    assert service.phone_matches(number, "0898765432")
    assert not service.phone_matches(number, PHONE)
    staff = service.petition_view(number, viewer="o")
    assert staff.phone_masked == "089-XXX-5432"
    assert staff.history[-1].note and "identity: ID card at the office" in staff.history[-1].comment
    assert "0898765432" not in staff.history[-1].comment  # masked even for staff
    assert [step.status for step in service.history(number)] == ["received"]  # public: no note
    assert AuditEvent.get(AuditEvent.action == "petition.phone").outcome == "updated"
    service.change_status(number, "in_review", actor="o", comment="c")
    deliver()
    assert SentSms.select().order_by(SentSms.id.desc()).get().to == "0898765432"


def test_assignment_is_audited_and_can_change_hands(db):
    (number,) = file_petitions("st-a", 1)
    service.assign(number, "officer-somchai", assigned_by="admin")
    service.assign(number, "officer-malee", assigned_by="officer-somchai")
    assert service.petition_view(number, viewer="admin").assignee == "officer-malee"
    assigned = AuditEvent.select().where(AuditEvent.action == "petition.assign")
    assert [(e.actor, e.outcome) for e in assigned.order_by(AuditEvent.id)] == [
        ("admin", "officer-somchai"),
        ("officer-somchai", "officer-malee"),
    ]
    with pytest.raises(PetitionError):
        service.assign("P-ST-A-0000099-X", "x", assigned_by="admin")
