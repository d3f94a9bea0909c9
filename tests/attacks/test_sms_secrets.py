"""Attacks that read one-time codes off the server instead of the citizen's phone.

The attacker is a staff member (or anyone holding an operations or administrator session)
who asks for a citizen's code at the kiosk or on the tracking page and reads it from
``/sms/sent``, the sink driver's page, to act as that citizen; or an operator who ships a
production server still on the default sink, so that no SMS leaves and every code stays
readable on that page.
"""

from __future__ import annotations

import re

import pytest

from sync_server import create_app
from sync_server.config import ServerConfigError
from sync_server.db import database
from sync_server.otp import issue_otp
from sync_server.sms.models import SentSms
from tests.operator_fixtures import create_test_operator, log_in

GOOD_KEY = "k3Y-for-the-sms-attack-tests-9f8e7d6c5b4a3210"
PHONE = "0812345678"


@pytest.fixture
def app(sqlite_url: str):
    app = create_app(
        {
            "TESTING": True,
            "SECRET_KEY": "attacks-sms-secret-0123456789abcdef",
            "DATABASE_URL": sqlite_url,
        }
    )
    yield app
    database.close()


def test_production_refuses_to_start_with_the_sink(sqlite_url):
    for explicit in ({}, {"SMS_GATEWAY": "sink"}, {"SMS_GATEWAY": "SINK"}):
        with pytest.raises(ServerConfigError, match=r"SMS gateway.*sink.*PRODUCTION"):
            create_app(
                {"PRODUCTION": True, "SECRET_KEY": GOOD_KEY, "DATABASE_URL": sqlite_url, **explicit}
            )
    database.close()


def test_production_starts_with_the_http_driver(sqlite_url):
    app = create_app(
        {
            "PRODUCTION": True,
            "SECRET_KEY": GOOD_KEY,
            "DATABASE_URL": sqlite_url,
            "SMS_GATEWAY": "http",
            "SMS_HTTP_URL": "https://sms.example.invalid/send",
            "SMS_HTTP_TOKEN": "provider-token",
        }
    )
    assert app.extensions["dcs_sms"].name == "http"
    database.close()


def test_the_sent_page_never_shows_a_one_time_code(app):
    with app.app_context():
        issue_otp(PHONE, "tracking", language="en")
    with database.connection_context():
        [sms] = SentSms.select()
    code = re.search(r"(?<![0-9])[0-9]{6}(?![0-9])", sms.text).group(0)  # kept in the table

    operations = log_in(app.test_client(), *create_test_operator("operations"))
    page = operations.get("/sms/sent").text
    assert "Tracking code: ••••••" in page
    assert code not in page
    assert PHONE not in page
