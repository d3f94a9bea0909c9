"""Operators: log in, one machine per account, abandoned sessions, password, profile, audit."""

from __future__ import annotations

import csv
import io
from datetime import timedelta

import pytest
from click.testing import CliRunner

from sync_server import create_app
from sync_server.audit.models import AuditEvent
from sync_server.cli import main as server_cli
from sync_server.db import database, utc_now
from sync_server.operators import sessions
from sync_server.operators.models import Operator, OperatorSession
from sync_server.operators.policy import password_problems, profile_problems
from sync_server.operators.redact import redact
from tests.operator_fixtures import create_test_operator, csrf_token, log_in


@pytest.fixture
def app(database_url: str):
    app = create_app(
        {
            "TESTING": True,
            "SECRET_KEY": "operators-test-secret-0123456789abcdef",
            "DATABASE_URL": database_url,
            "SESSION_ABANDON_S": 60,
        }
    )
    yield app
    database.close()


def post(client, path: str, data: dict | None = None, page: str | None = None):
    token = csrf_token(client.get(page or path).text)
    return client.post(path, data={"csrf_token": token, **(data or {})})


def audit_actions(username: str) -> list[tuple[str, str]]:
    with database.connection_context():
        return [
            (e.action, e.outcome)
            for e in AuditEvent.select().where(AuditEvent.actor == username).order_by(AuditEvent.id)
        ]


def test_login_opens_the_role_page_and_anonymous_is_sent_to_login(app):
    username, password = create_test_operator("administrator")
    client = app.test_client()
    answer = client.get("/admin/operators")
    assert answer.status_code == 303 and "/login" in answer.headers["Location"]

    log_in(client, username, password)
    page = client.get("/admin/operators")
    assert page.status_code == 200
    assert username in page.text and 'id="logout"' in page.text
    assert ("operator.login", "ok") in audit_actions(username)


def test_wrong_password_is_refused_without_saying_which_part(app):
    username, _ = create_test_operator("officer")
    client = app.test_client()
    for name, password in ((username, "Wrong-password-1"), ("nobody", "Wrong-password-1")):
        answer = post(client, "/login", {"username": name, "password": password})
        assert answer.status_code == 403
        assert "ชื่อผู้ใช้หรือรหัสผ่านไม่ถูกต้อง" in answer.text  # Thai unless asked otherwise
    client.set_cookie("dcs-lang", "en")
    answer = post(client, "/login", {"username": username, "password": "Wrong-password-1"})
    assert "Wrong username or password" in answer.text
    assert ("operator.login", "bad-credentials") in audit_actions(username)


def test_a_role_without_the_right_gets_403(app):
    username, password = create_test_operator("officer")
    client = log_in(app.test_client(), username, password)
    assert client.get("/admin/operators").status_code == 403
    assert client.get("/admin/audit").status_code == 403


def test_second_login_elsewhere_is_refused_until_the_first_logs_out(app):
    username, password = create_test_operator("operations")
    first = log_in(app.test_client(), username, password)
    second = app.test_client()
    refused = post(second, "/login", {"username": username, "password": password})
    assert refused.status_code == 403
    assert "เข้าสู่ระบบอยู่ที่เครื่องอื่น" in refused.text
    assert ("operator.login", "already-logged-in") in audit_actions(username)

    assert post(first, "/logout", page="/account/profile").status_code == 303
    assert first.get("/account/profile").status_code == 303  # logged out: to the login page
    log_in(second, username, password)
    assert second.get("/account/profile").status_code == 200


def test_abandoned_session_locks_the_account_until_an_administrator_unlocks_it(app):
    username, password = create_test_operator("officer")
    admin, admin_password = create_test_operator("administrator")
    log_in(app.test_client(), username, password)  # then the browser closes: no logout

    with app.app_context(), database.connection_context():
        assert sessions.lock_abandoned(now=utc_now() + timedelta(seconds=30)) == []
        assert sessions.lock_abandoned(now=utc_now() + timedelta(seconds=61)) == [username]
        operator = Operator.get(Operator.username == username)
        assert operator.locked and "without logout" in operator.locked_reason
        ended = OperatorSession.get(OperatorSession.operator == operator)
        assert ended.end_reason == "abandoned"

    refused = post(app.test_client(), "/login", {"username": username, "password": password})
    assert refused.status_code == 403 and "บัญชีถูกล็อก" in refused.text

    admin_client = log_in(app.test_client(), admin, admin_password)
    listing = admin_client.get("/admin/operators").text
    assert "session ended without logout" in listing
    token = csrf_token(listing)
    answer = admin_client.post(f"/admin/operators/{username}/unlock", data={"csrf_token": token})
    assert answer.status_code == 303
    log_in(app.test_client(), username, password)
    assert ("operator.unlock", "ok") in audit_actions(admin)


def test_heartbeat_keeps_a_session_alive_and_answers_401_once_it_ended(app):
    username, password = create_test_operator("officer")
    client = log_in(app.test_client(), username, password)
    token = csrf_token(client.get("/account/profile").text)
    headers = {"X-CSRFToken": token}
    assert client.post("/session/heartbeat", headers=headers).status_code == 204
    with app.app_context(), database.connection_context():
        sessions.lock(username, by="tests")
    assert client.post("/session/heartbeat", headers=headers).status_code == 401


def test_new_account_must_change_its_password_first(app):
    admin, admin_password = create_test_operator("administrator")
    admin_client = log_in(app.test_client(), admin, admin_password)
    created = post(
        admin_client,
        "/admin/operators",
        {"username": "somying", "role": "officer"},
        page="/admin/operators",
    )
    assert created.status_code == 200 and created.headers["Cache-Control"] == "no-store"
    initial = created.text.split('id="initial-password">')[1].split("<")[0]
    with database.connection_context():
        assert initial not in Operator.get(Operator.username == "somying").password_hash

    client = log_in(app.test_client(), "somying", initial)
    client.set_cookie("dcs-lang", "en")  # the pages in English from here on
    answer = client.get("/backoffice/", follow_redirects=False)
    assert answer.status_code in (303, 404)  # the back office may not be registered here
    page = client.get("/account/profile")
    assert page.status_code == 303 and page.headers["Location"].endswith("/account/password")

    weak = post(
        client,
        "/account/password",
        {"current_password": initial, "new_password": "short", "confirm_password": "short"},
    )
    assert weak.status_code == 400 and "At least 10 characters" in weak.text
    mismatch = post(
        client,
        "/account/password",
        {
            "current_password": initial,
            "new_password": "Lobby-Good#2026",
            "confirm_password": "Lobby-Good#2027",
        },
    )
    assert mismatch.status_code == 400 and "differ" in mismatch.text
    wrong_current = post(
        client,
        "/account/password",
        {
            "current_password": "not-it",
            "new_password": "Lobby-Good#2026",
            "confirm_password": "Lobby-Good#2026",
        },
    )
    assert wrong_current.status_code == 400 and "current password is wrong" in wrong_current.text
    changed = post(
        client,
        "/account/password",
        {
            "current_password": initial,
            "new_password": "Lobby-Good#2026",
            "confirm_password": "Lobby-Good#2026",
        },
    )
    assert changed.status_code == 303
    assert client.get("/account/profile").status_code == 200


def test_profile_validation_follows_the_seed(app):
    username, password = create_test_operator("officer")
    client = log_in(app.test_client(), username, password)
    bad = post(
        client,
        "/account/profile",
        {
            "first_name": "Somchai",
            "last_name": "ใจดี",
            "position": "นักวิชาการ",
            "citizen_id": "1234567891021",
            "email": "somchai@",
            "phone": "081-234567",
        },
    )
    assert bad.status_code == 400
    for field in ("first_name", "citizen_id", "email", "phone"):
        assert f'id="error-{field}"' in bad.text
    assert 'id="error-last_name"' not in bad.text
    good = post(
        client,
        "/account/profile",
        {
            "first_name": "สมชาย",
            "last_name": "ใจดี",
            "position": "นักวิชาการคอมพิวเตอร์",
            "citizen_id": "1234567891020",
            "email": "somchai@example.go.th",
            "phone": "081 234 5678",
        },
    )
    assert good.status_code == 303
    with database.connection_context():
        assert Operator.get(Operator.username == username).phone == "081-2345678"


@pytest.mark.parametrize(
    ("password", "ok"),
    [
        ("Lobby-Good#2026", True),
        ("lobbygood2026", False),  # two classes
        ("Sh0rt#", False),
        ("Password123", False),  # common
        ("Somchai-2026x", False),  # the username
    ],
)
def test_password_policy(password, ok):
    assert (password_problems(password, username="somchai") == []) is ok


def test_profile_rules_accept_thai_names_with_tone_marks():
    assert (
        profile_problems(
            first_name="ณัฐพงศ์",
            last_name="ศรีสุข",
            position="เจ้าพนักงานธุรการ",
            citizen_id="3648905117162",
            email="n@example.go.th",
            phone="021-2345678",
        )
        == []
    )


@pytest.mark.parametrize(
    ("phone", "ok"),
    [("081-2345678", True), ("0812345678", True), ("081-234567", False), ("+66812345678", False)],
)
def test_profile_phone_is_a_thai_mobile_number_with_or_without_the_dash(phone, ok):
    problems = profile_problems(
        first_name="สมชาย",
        last_name="ใจดี",
        position="นักวิชาการ",
        citizen_id="0123456789016",  # synthetic: category 0 is no Thai national's
        email="s@example.go.th",
        phone=phone,
    )
    assert (problems == []) is ok


def test_redaction_masks_ids_phones_and_emails():
    text = "lookup 1234567891020 by 081-234-5678 / 0812345678 mail somchai@example.go.th"
    masked = redact(text)
    assert "1234567891020" not in masked and "X-XXXX-XXXXX-XX-0" in masked
    assert "234-5678" not in masked and "0812345678" not in masked
    assert "0XX-XXX-5678" in masked
    assert "somchai@" not in masked and "s***@example.go.th" in masked
    assert redact("P-ST-LOBBY-A-0000001-Y") == "P-ST-LOBBY-A-0000001-Y"


def test_audit_search_and_export_are_for_administrators_and_redacted(app):
    admin, admin_password = create_test_operator("administrator")
    with database.connection_context():
        sessions.audit("officer7", "record.lookup", "1234567891020")
        sessions.audit("officer7", "petition.status", "P-ST-A-0000001-X")
    client = log_in(app.test_client(), admin, admin_password)
    page = client.get("/admin/audit?actor=officer7")
    assert page.status_code == 200
    assert "1234567891020" not in page.text and "X-XXXX-XXXXX-XX-0" in page.text
    assert "P-ST-A-0000001-X" in page.text

    export = client.get("/admin/audit.csv?actor=officer7&action=record")
    rows = list(csv.reader(io.StringIO(export.text)))
    assert rows[0] == ["at", "actor", "action", "subject", "outcome"]
    assert [row[2] for row in rows[1:]] == ["record.lookup"]
    assert rows[1][3] == "X-XXXX-XXXXX-XX-0"
    assert "1234567891020" not in export.text
    assert ("audit.export", "ok") in audit_actions(admin)
    assert client.get("/admin/audit?since=yesterday").status_code == 400


def test_login_is_rate_limited_per_username(app):
    username, _ = create_test_operator("officer")
    client = app.test_client()
    codes = [
        post(client, "/login", {"username": username, "password": "Wrong-pass-1"}).status_code
        for _ in range(11)
    ]
    assert codes[:10] == [403] * 10 and codes[10] == 429


def test_cli_creates_lists_sweeps_and_unlocks(app, tmp_path, monkeypatch):
    config = tmp_path / "server.toml"
    config.write_text(
        f'SECRET_KEY = "cli-test-secret-0123456789abcdefghijkl"\n'
        f'DATABASE_URL = "{app.config["DATABASE_URL"]}"\n'
    )
    monkeypatch.setenv("DCS_SERVER_CONFIG", str(config))
    runner = CliRunner()
    made = runner.invoke(server_cli, ["operator", "create", "admin1", "--role", "administrator"])
    assert made.exit_code == 0, made.output
    assert runner.invoke(server_cli, ["operator", "list"]).output.split()[:3] == [
        "admin1",
        "administrator",
        "active",
    ]
    weak = runner.invoke(
        server_cli,
        ["operator", "create", "admin2", "--role", "officer", "--password-stdin"],
        input="weak\n",
    )
    assert weak.exit_code == 1 and "At least 10 characters" in weak.output
    with database.connection_context():
        sessions.lock("admin1", by="tests")
    assert "locked" in runner.invoke(server_cli, ["operator", "list"]).output
    assert runner.invoke(server_cli, ["operator", "unlock", "admin1"]).exit_code == 0
    assert runner.invoke(server_cli, ["operator", "sweep", "--once"]).exit_code == 0
    assert runner.invoke(server_cli, ["operator", "unlock", "ghost"]).exit_code == 1
