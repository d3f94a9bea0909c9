"""Schemathesis against the generated OpenAPI document: every response matches its schema.

Each operation gets a bounded number of generated requests (``MAX_EXAMPLES``), sent with a
valid token to an app (on SQLite and on a real PostgreSQL) whose database holds a petition
with history, stations with and without heartbeats, an enrolment and a rejection, so both the
200 and the error paths are exercised. No broker listens where the app would send a command.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
import schemathesis
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
from flask import Flask
from hypothesis import HealthCheck, assume, settings

from devtools.net import free_port
from sync_server import api, create_app
from sync_server.db import database
from sync_server.fleet.enrollments import record_enrollment
from sync_server.fleet.models import Station
from sync_server.ingest.apply import apply_batch
from sync_server.ingest.models import RejectedMessage
from sync_server.petitions.service import change_status
from sync_server.replicas import enrol_station
from tests.api_tokens import bearer
from tests.test_ingest_databases import received

MAX_EXAMPLES = 30


def _populate() -> str:
    """A petition with history, two stations (one enrolled, with gauges), a rejection."""
    record_enrollment(
        "st-a", serial="a1", sha256="a" * 64, not_after=datetime(2030, 1, 1, tzinfo=UTC), by="t"
    )
    item = received(1)
    apply_batch(database.obj, [item, received(2, station_id="st-b")])
    number = item.tx.body["number"]
    change_status(number, "in_review", actor="officer-1", comment="checked")
    Station.update(
        presence="online",
        last_heartbeat_at=datetime.now(UTC),
        oldest_undelivered_age_s=4.0,
        metrics=json.dumps({"printer_state": 0.0, "watchdog_resets": 1.0}),
    ).where(Station.station_id == "st-a").execute()
    enrol_station("st-a", "building-1", X25519PrivateKey.generate().public_key().public_bytes_raw())
    RejectedMessage.create(
        topic="dcs/v1/stations/st-a/tx", reason="schema", size=3, payload_sha256="f" * 64
    )
    return number


@pytest.fixture
def api_app(database_url):
    app = create_app(
        {
            "TESTING": True,
            "SECRET_KEY": "schema-tests",
            "DATABASE_URL": database_url,
            "MQTT_PORT": free_port(),  # nothing listens: a command is "not sent", never sent
        }
    )
    with database.connection_context():
        app.config["TEST_PETITION"] = _populate()
    yield app
    database.close()


@pytest.fixture
def token_headers(api_app):
    """A token with every scope."""
    return bearer()


def send_to(case, app) -> None:
    """Route the case, and the probes schemathesis derives from it (e.g. without the token),
    to this test's app."""
    case.operation.app = app
    case.operation.schema.app = app


def openapi_document() -> dict:
    """The document as the API generates it, from an app with no database behind it.

    Loaded at import so schemathesis can parametrize by operation (its fixture-based loader
    does not run on pytest 9); the served document is checked to be the same one below.
    """
    app = Flask("openapi-document")
    api.init_app(app)
    return app.test_client().get("/api/v1/openapi.json").json


schema = schemathesis.openapi.from_dict(openapi_document())


def test_the_served_document_is_the_one_tested(api_app):
    assert api_app.test_client().get("/api/v1/openapi.json").json == schema.raw_schema


@schema.parametrize()
@settings(
    max_examples=MAX_EXAMPLES,
    deadline=None,  # never fail on wall-clock time
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
def test_generated_requests_get_schema_conformant_answers_and_no_5xx(case, api_app, token_headers):
    # A query parameter whose value is an empty list is not on the wire at all, so a
    # "violates additionalProperties" case built that way reaches the app without the extra
    # parameter and is rightly answered 200: not a case worth sending.
    assume(not any(value == [] for value in (case.query or {}).values()))
    send_to(case, api_app)
    case.call_and_validate(headers=token_headers)


@pytest.mark.parametrize(
    ("path", "parameters"),
    [
        ("/api/v1/petitions/{number}", "petition"),
        ("/api/v1/petitions/{number}/history", "petition"),
        ("/api/v1/stations/{station_id}", {"station_id": "st-a"}),
        ("/api/v1/stations/{station_id}", {"station_id": "st-b"}),
    ],
)
def test_records_that_exist_answer_200_matching_their_schema(
    api_app, token_headers, path, parameters
):
    if parameters == "petition":
        parameters = {"number": api_app.config["TEST_PETITION"]}
    case = schema[path]["GET"].Case(path_parameters=parameters)
    send_to(case, api_app)
    response = case.call_and_validate(headers=token_headers)
    assert response.status_code == 200


@pytest.mark.parametrize(
    ("path", "body", "status"),
    [
        ("/api/v1/stations/{station_id}/enrolments", {"certificate": "a1"}, 200),
        ("/api/v1/stations/{station_id}/rotations", {"certificate": "b2"}, 201),
        ("/api/v1/stations/{station_id}/decommission", {"revoked_serials": ["a1"]}, 200),
    ],
)
def test_writes_about_an_enrolled_station_answer_matching_their_schema(
    api_app, token_headers, path, body, status
):
    if "certificate" in body:
        expiry = "2030-01-01T00:00:00Z"
        body = {
            "certificate": {"serial": body["certificate"], "sha256": "a" * 64, "not_after": expiry}
        }
    case = schema[path]["POST"].Case(path_parameters={"station_id": "st-a"}, body=body)
    send_to(case, api_app)
    response = case.call_and_validate(headers=token_headers)
    assert response.status_code == status
