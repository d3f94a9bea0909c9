"""Back-office and SMS pages through the test client: roles, queue, petition, assign, status."""

from __future__ import annotations

import re

import pytest

from sync_server import create_app
from sync_server.audit.models import AuditEvent
from sync_server.db import database
from sync_server.petitions.models import PetitionAssignment, PetitionStatusChange
from sync_server.sms.models import SentSms, SmsOutbox
from tests.operator_fixtures import create_test_operator, csrf_token, log_in
from tests.petition_fixtures import file_petitions


@pytest.fixture
def app(database_url: str):
    app = create_app(
        {
            "TESTING": True,
            "SECRET_KEY": "backoffice-pages-secret-0123456789abcdef",
            "DATABASE_URL": database_url,
            "TRACKING_URL": "https://dcs.example.invalid/track?number={number}",
        }
    )
    yield app
    database.close()


def client_as(app, role: str):
    username, password = create_test_operator(role)
    client = log_in(app.test_client(), username, password)
    client.username = username
    return client


def test_pages_need_the_right_role(app):
    anonymous = app.test_client()
    for path in ("/backoffice/", "/sms/sent"):
        answer = anonymous.get(path)
        assert answer.status_code == 303 and "/login" in answer.headers["Location"]
    officer = client_as(app, "officer")
    assert officer.get("/backoffice/").status_code == 200
    assert officer.get("/sms/sent").status_code == 403
    operations = client_as(app, "operations")
    assert operations.get("/backoffice/").status_code == 403
    assert operations.get("/sms/sent").status_code == 200


def test_queue_filters_by_kind_and_station(app):
    with database.connection_context():
        plain = file_petitions("st-a", 3)
        corrections = file_petitions("st-b", 2, service="population_correction")
    officer = client_as(app, "officer")
    page = officer.get("/backoffice/").text
    assert all(number in page for number in plain + corrections)
    only = officer.get("/backoffice/?kind=correction").text
    assert all(n in only for n in corrections) and not any(n in only for n in plain)
    station = officer.get("/backoffice/?station=st-a").text
    assert all(n in station for n in plain) and not any(n in station for n in corrections)


def test_status_change_on_the_page_texts_the_citizen_and_is_audited(app):
    with database.connection_context():
        (number,) = file_petitions("st-a", 1)
    officer = client_as(app, "officer")
    page = officer.get(f"/backoffice/petitions/{number}")
    assert page.status_code == 200 and number in page.text
    token = csrf_token(page.text)

    assigned = officer.post(
        f"/backoffice/petitions/{number}/assign",
        data={"csrf_token": token, "assignee": "me"},
    )
    assert assigned.status_code == 303
    changed = officer.post(
        f"/backoffice/petitions/{number}/status",
        data={"csrf_token": token, "status": "in_review", "comment": "รับเรื่องแล้ว"},
        follow_redirects=True,
    )
    assert changed.status_code == 200
    assert "เปลี่ยนเป็น “อยู่ระหว่างพิจารณา” และส่ง SMS แล้ว" in changed.text  # Thai by default
    with database.connection_context():
        assert PetitionAssignment.get(PetitionAssignment.petition == number).assignee == (
            officer.username
        )
        step = PetitionStatusChange.select().order_by(PetitionStatusChange.id.desc()).get()
        assert (step.to_status, step.actor) == ("in_review", officer.username)
        sms = SentSms.get()
        assert number in sms.text and "dcs.example.invalid/track" in sms.text
        actions = {
            e.action
            for e in AuditEvent.select().where(
                (AuditEvent.actor == officer.username) & (AuditEvent.subject == number)
            )
        }
        assert {"petition.view", "petition.assign", "petition.status"} <= actions
        # the SMS went through the outbox, queued with the change; nothing of it stays there
        queued = SmsOutbox.get(SmsOutbox.template == "petition.status")
        assert (queued.state, queued.to, queued.params) == ("sent", "081-XXX-5678", "{}")

    operations = client_as(app, "operations")
    sent = operations.get("/sms/sent").text
    assert number in sent
    assert "0812345678" not in sent  # the number is masked on the page

    officer.set_cookie("dcs-lang", "en")
    no_comment = officer.post(
        f"/backoffice/petitions/{number}/status",
        data={"csrf_token": token, "status": "completed", "comment": ""},
        follow_redirects=True,
    )
    assert "Status not changed" in no_comment.text


def test_unknown_petition_is_404_and_posts_need_the_csrf_token(app):
    officer = client_as(app, "officer")
    assert officer.get("/backoffice/petitions/P-NOPE-0000000-X").status_code == 404
    with database.connection_context():
        (number,) = file_petitions("st-a", 1)
    refused = officer.post(
        f"/backoffice/petitions/{number}/status", data={"status": "in_review", "comment": "x"}
    )
    assert refused.status_code == 400


def test_staff_pages_are_thai_or_english_and_vietnamese_falls_back_to_english(app):
    with database.connection_context():
        (number,) = file_petitions("st-a", 1, service="population_correction")
    officer = client_as(app, "officer")
    thai = officer.get("/backoffice/").text
    assert '<html lang="th">' in thai and "คิวคำร้องและคำขอแก้ไขข้อมูล" in thai
    assert "แก้ไขข้อมูลทะเบียนราษฎร" in thai and "ได้รับคำร้องแล้ว" in thai  # service, status
    switch = re.findall(r'<a href="[^"]+" lang="(\w+)"', thai)
    assert switch == ["th", "en"]  # staff pages come in Thai and English

    english = officer.get("/backoffice/?lang=en").text
    assert (
        "Petitions and correction requests" in english and "Population data correction" in english
    )
    assert not re.search(r"[\u0E00-\u0E7F]", english.split("<main>")[1])  # no Thai left

    page = officer.get(f"/backoffice/petitions/{number}", headers={"Accept-Language": "vi"})
    assert "Save and send SMS" in page.text  # still English, the cookie says so
    officer.set_cookie("dcs-lang", "vi")
    vietnamese = officer.get(f"/backoffice/petitions/{number}").text
    assert '<html lang="vi">' in vietnamese and "Save and send SMS" in vietnamese
    assert "Đã tiếp nhận" in vietnamese  # the status is citizen-facing: it has Vietnamese

    operations = client_as(app, "operations")
    operations.set_cookie("dcs-lang", "en")
    for path in ("/dashboard/", "/dashboard/alarms", "/sms/sent"):
        body = operations.get(path).text.split("<main>")[1]
        assert not re.search(r"[\u0E00-\u0E7F]", body), path
