"""Operator accounts and logged-in clients for server page tests.

``tests/conftest.py`` imports these fixtures. The accounts have a complete profile and no
must-change flag, so a test lands on the page it asks for.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable

import pytest
from flask import Flask
from flask.testing import FlaskClient

from sync_server.db import database
from sync_server.operators import sessions

#: Meets the password policy; each account gets its own by appending its username.
PASSWORD_BASE = "Lobby-Test#2026"

_serial = itertools.count(1)


def csrf_token(html: str) -> str:
    """The CSRF token of the first form on a page."""
    found = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert found is not None, "the page has no CSRF token"
    return found.group(1)


def create_test_operator(
    role: str = "officer", username: str | None = None, password: str | None = None
) -> tuple[str, str]:
    """An operator in the bound database; returns ``(username, password)``."""
    username = username or f"{role}{next(_serial)}"
    password = password or f"{PASSWORD_BASE}-{len(username)}"
    with database.connection_context():
        sessions.create_operator(
            username,
            password,
            role,
            must_change_password=False,
            created_by="tests",
            first_name="สมชาย",
            last_name="ใจดี",
            position="เจ้าหน้าที่",
        )
    return username, password


def log_in(client: FlaskClient, username: str, password: str) -> FlaskClient:
    """Log ``client`` in through the login form (CSRF token and all)."""
    token = csrf_token(client.get("/login").text)
    answer = client.post(
        "/login", data={"csrf_token": token, "username": username, "password": password}
    )
    assert answer.status_code == 303, answer.text
    return client


@pytest.fixture
def make_operator() -> Callable[..., tuple[str, str]]:
    """``make_operator(role="officer", username=None, password=None) -> (username, password)``."""
    return create_test_operator


@pytest.fixture
def login_client(request: pytest.FixtureRequest) -> Callable[..., FlaskClient]:
    """``login_client(role, app=None)``: a test client of ``app`` (default: the ``server_app``
    fixture) already logged in as a new operator with that role."""

    def make(role: str = "officer", app: Flask | None = None) -> FlaskClient:
        app = app or request.getfixturevalue("server_app")
        username, password = create_test_operator(role)
        client = app.test_client()
        client.operator_username = username  # type: ignore[attr-defined]
        return log_in(client, username, password)

    return make
