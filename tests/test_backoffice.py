"""Back-office service on SQLite and PostgreSQL: queue, assignment, status changes with SMS."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from provisioning.net import free_port
from sync_server.backoffice import service
from sync_server.backoffice.service import QueueFilter
from sync_server.db import bind, database
from sync_server.models import AuditEvent, Petition
from sync_server.records.petitions import PetitionError
from sync_server.sms import HttpGateway, HttpGatewaySettings, SinkGateway
from sync_server.sms.models import SentSms
from tests.petition_fixtures import PHONE, file_petitions

TRACK = "https://dcs.example.invalid/track?number={number}"
CITIZEN_ID = "0123456789012"


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
    service.change_status(
        a[1],
        "rejected",
        actor="officer-malee",
        comment="ซ้ำ",
        gateway=SinkGateway(),
        tracking_url=TRACK.format(number=a[1]),
    )

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
    result = service.change_status(
        number,
        "in_review",
        actor="officer-malee",
        comment="รับเรื่องแล้ว กำลังตรวจสอบ",
        gateway=SinkGateway(),
        tracking_url=TRACK.format(number=number),
    )
    sms = SentSms.get()
    assert result.sms_id == f"sink-{sms.id}" and result.sms_error is None
    assert (sms.to, sms.sender) == (PHONE, "OSS-LOCAL")
    assert number in sms.text
    assert TRACK.format(number=number) in sms.text
    assert sms.text.startswith(f"คำร้อง {number} สถานะ: อยู่ระหว่างพิจารณา")  # the default: Thai
    assert "กำลังตรวจสอบ" not in sms.text  # the officer's comment stays internal

    view = service.petition_view(number, viewer="officer-malee")
    assert [(s.status, s.actor, s.comment) for s in view.history] == [
        ("received", "station:st-a", None),
        ("in_review", "officer-malee", "รับเรื่องแล้ว กำลังตรวจสอบ"),
    ]
    assert view.status == "in_review"
    assert view.next_statuses == ("waiting_for_citizen", "approved", "rejected")
    assert view.phone_masked == "081-XXX-5678"
    actions = [(e.action, e.outcome) for e in AuditEvent.select().order_by(AuditEvent.id)]
    assert actions == [
        ("petition.status", "in_review"),
        ("petition.sms", "sent"),
        ("petition.view", "ok"),
    ]


def test_each_change_sends_its_own_sms(db):
    (number,) = file_petitions("st-a", 1, service="population_correction", citizen_id=CITIZEN_ID)
    for status in ("in_review", "waiting_for_citizen", "in_review", "approved", "closed"):
        service.change_status(
            number,
            status,
            actor="o",
            comment=status,
            gateway=SinkGateway(),
            tracking_url=TRACK.format(number=number),
        )
    texts = [row.text for row in SentSms.select().order_by(SentSms.id)]
    assert len(texts) == 5
    assert "รอข้อมูลเพิ่มเติมจากผู้ยื่น" in texts[1] and "ปิดเรื่องแล้ว" in texts[4]
    view = service.petition_view(number, viewer="o")
    assert view.citizen_id == CITIZEN_ID
    assert view.form == {"subject": "ไฟทางเดินชั้น 3 ดับ"}


def test_the_status_sms_is_in_the_language_given_else_the_petitions(db):
    english, vietnamese = file_petitions("st-a", 2)
    (filed_in_vietnamese,) = file_petitions(
        "st-b", 1, form={"subject": "Đèn hành lang tầng 3 bị hỏng", "language": "vi"}
    )
    for number, language in ((english, "en"), (vietnamese, "vi"), (filed_in_vietnamese, None)):
        service.change_status(
            number,
            "in_review",
            actor="o",
            comment="ok",
            gateway=SinkGateway(),
            tracking_url=TRACK.format(number=number),
            language=language,
        )
    texts = [row.text for row in SentSms.select().order_by(SentSms.id)]
    link = TRACK.format(number=english)
    assert texts[0] == f"Petition {english} is now: In review. Track it at {link}"
    assert texts[1].startswith(f"Đơn số {vietnamese} đã chuyển sang tình trạng: Đang xem xét.")
    assert texts[2].startswith(f"Đơn số {filed_in_vietnamese} đã chuyển sang tình trạng:")


def test_a_change_needs_a_comment_and_an_allowed_transition(db):
    (number,) = file_petitions("st-a", 1)
    kwargs = {"actor": "o", "gateway": SinkGateway(), "tracking_url": "x"}
    with pytest.raises(PetitionError, match="comment"):
        service.change_status(number, "in_review", comment="   ", **kwargs)
    with pytest.raises(PetitionError, match="cannot become"):
        service.change_status(number, "closed", comment="skip ahead", **kwargs)
    with pytest.raises(PetitionError, match="no petition"):
        service.change_status("P-ST-A-0000099-X", "in_review", comment="c", **kwargs)
    assert SentSms.select().count() == 0
    assert Petition.get_by_id(number).status == "received"


def test_an_sms_that_fails_does_not_undo_the_change(db):
    (number,) = file_petitions("st-a", 1)
    dead = HttpGateway(
        HttpGatewaySettings(url=f"http://127.0.0.1:{free_port()}/", token="t", attempts=1)
    )
    result = service.change_status(
        number, "in_review", actor="o", comment="c", gateway=dead, tracking_url="x"
    )
    assert result.sms_id is None and "ConnectionRefused" in result.sms_error
    assert Petition.get_by_id(number).status == "in_review"
    assert AuditEvent.get(AuditEvent.action == "petition.sms").outcome == "failed"


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
