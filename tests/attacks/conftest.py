"""A server database with seeded residents and the kiosk services a station talks to."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from flask import Flask

from contract import ServiceRequest, ServiceResponse
from devtools.seed import seed_records
from sync_server import create_app
from sync_server.db import database
from sync_server.kiosk_services.handlers import KioskServices
from sync_server.sms.models import SentSms

SECRET = "attacks-test-secret-0123456789abcdef"
#: The station the attacker stole (or impersonates).
STATION = "st-stolen"


@pytest.fixture
def app(sqlite_url: str) -> Iterator[Flask]:
    app = create_app({"TESTING": True, "SECRET_KEY": SECRET, "DATABASE_URL": sqlite_url})
    with app.app_context():
        seed_records(6)
        yield app
    database.close()


@pytest.fixture
def services(app: Flask) -> KioskServices:
    """The kiosk services as the worker builds them."""
    return KioskServices.from_config(app.config)


def ask(
    services: KioskServices, action: str, *, station: str = STATION, **fields: object
) -> ServiceResponse:
    """One request from the attacker's station (or from ``station``)."""
    return services.handle(station, ServiceRequest(station_id=station, action=action, **fields))


def sms_code(phone: str) -> str:
    """The code in the latest SMS sent to ``phone`` (what the phone's holder reads)."""
    row = SentSms.select().where(SentSms.to == phone).order_by(SentSms.id.desc()).get()
    return re.search(r"\b(\d{6})\b", row.text).group(1)
