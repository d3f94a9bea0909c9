"""Attacker: a forged kiosk client (or anyone at the web login page) guessing operator
passwords. They try many passwords for an officer, many usernames from one station, learn
from the answers whether a password was right for a role that may not serve at a counter,
and tell real usernames from made-up ones by the audit trail or the time a refusal takes."""

from __future__ import annotations

import pytest
from flask import Flask

from contract import encode
from sync_server.audit.models import AuditEvent
from sync_server.kiosk_services.handlers import KioskServices
from sync_server.operators import sessions
from sync_server.operators.login_limits import LOGIN_PER_STATION, LOGIN_PER_USERNAME
from sync_server.operators.models import OperatorSession
from tests.attacks.conftest import ask
from tests.operator_fixtures import create_test_operator, csrf_token


def test_wrong_passwords_for_one_officer_are_throttled_even_the_right_one_after(
    services: KioskServices,
) -> None:
    username, password = create_test_operator("officer")
    for attempt in range(LOGIN_PER_USERNAME.max_hits):
        # Spread over stolen kiosks, so no one station's own budget stops the guessing first.
        answer = ask(
            services,
            "operator.login",
            station=f"st-stolen-{attempt}",
            username=username,
            password=f"Guess-{attempt:04}",
        )
        assert (answer.status, answer.reason) == ("refused", "bad_credentials")
    throttled = ask(services, "operator.login", username=username, password=password)
    assert throttled.status == "rate_limited" and throttled.retry_after_s > 0
    assert OperatorSession.select().count() == 0


def test_one_station_guessing_over_many_usernames_is_throttled(services: KioskServices) -> None:
    """Whichever stops it first (the station's budget for logins or the login limiter per
    station), one kiosk gets no more than LOGIN_PER_STATION guesses."""
    answers = [
        ask(services, "operator.login", username=f"guess{attempt}", password="Guess-0000")
        for attempt in range(LOGIN_PER_STATION.max_hits + 1)
    ]
    assert {answer.status for answer in answers[: LOGIN_PER_STATION.max_hits]} <= {
        "refused",
        "rate_limited",
    }
    assert answers[-1].status == "rate_limited"
    username, password = create_test_operator("officer")
    assert ask(services, "operator.login", username=username, password=password).status == (
        "rate_limited"
    )


def test_the_web_page_and_the_counter_share_one_budget_per_username(
    app: Flask, services: KioskServices
) -> None:
    username, _ = create_test_operator("officer")
    client = app.test_client()
    for attempt in range(LOGIN_PER_USERNAME.max_hits):
        token = csrf_token(client.get("/login").text)
        form = {"csrf_token": token, "username": username, "password": f"Guess-{attempt:04}"}
        assert client.post("/login", data=form).status_code == 403
    answer = ask(services, "operator.login", username=username, password="Guess-9999")
    assert answer.status == "rate_limited"


def test_a_right_password_for_a_role_without_a_counter_answers_like_a_wrong_one(
    services: KioskServices,
) -> None:
    username, password = create_test_operator("operations")
    right = ask(services, "operator.login", username=username, password=password)
    wrong = ask(services, "operator.login", username=username, password="Wrong-password-1")
    assert encode(right) == encode(wrong)
    assert OperatorSession.select().count() == 0  # no session was opened, even for a moment
    outcomes = [e.outcome for e in AuditEvent.select().where(AuditEvent.actor == username)]
    assert outcomes == ["wrong-role", "bad-credentials"]  # the audit trail still tells


def test_an_unknown_username_costs_a_dummy_verify_and_is_not_written_to_the_audit_trail(
    services: KioskServices, monkeypatch: pytest.MonkeyPatch
) -> None:
    verified: list[str] = []
    real_verify = sessions.verify_password

    def counting_verify(password_hash: str, password: str) -> bool:
        verified.append(password_hash)
        return real_verify(password_hash, password)

    monkeypatch.setattr(sessions, "verify_password", counting_verify)
    typed = "<script>alert(1)</script>drop-table"
    answer = ask(services, "operator.login", username=typed[:32], password="Guess-0000")

    assert (answer.status, answer.reason) == ("refused", "bad_credentials")
    assert verified == [sessions.dummy_password_hash()]
    (row,) = AuditEvent.select().where(AuditEvent.action == "operator.login")
    assert (row.actor, row.outcome) == (sessions.ANONYMOUS, "unknown-user")
    assert typed[:32] not in f"{row.actor} {row.subject} {row.outcome}"
    assert "script" not in f"{row.actor} {row.subject} {row.outcome}"
