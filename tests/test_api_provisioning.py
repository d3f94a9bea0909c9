"""What dcs-provision records through the API: enrolments, rotations, decommissioning.

On SQLite and on a real PostgreSQL; the decommission's wipe goes out on a real broker.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from devtools.net import free_port
from sync_server import create_app
from sync_server.audit.models import AuditEvent
from sync_server.dashboard.models import CommandRecord
from sync_server.db import database
from sync_server.fleet.enrollments import history
from sync_server.replicas import enrol_station
from sync_server.replicas.models import StationReplica
from tests.api_tokens import PROVISIONING_SCOPES, api_token, bearer
from tests.conftest import server_config
from tests.test_api import assert_error

ENROL = "/api/v1/stations/st-a/enrolments"
ROTATE = "/api/v1/stations/st-a/rotations"
DECOMMISSION = "/api/v1/stations/st-a/decommission"


def certificate(serial: str) -> dict[str, str]:
    return {"serial": serial, "sha256": serial[0] * 64, "not_after": "2028-05-01T12:00:00+07:00"}


def enrolment(serial: str = "a1", **extra: str) -> dict[str, object]:
    return {"certificate": certificate(serial), **extra}


@pytest.fixture
def app(database_url):
    # No broker listens on MQTT_PORT: a wipe that is sent fails as "not sent".
    app = create_app(
        {
            "TESTING": True,
            "SECRET_KEY": "provisioning-api-tests",
            "DATABASE_URL": database_url,
            "MQTT_PORT": free_port(),
        }
    )
    yield app
    database.close()


@pytest.fixture
def client(app):
    return app.test_client()


def technician_token() -> dict[str, str]:
    """The technicians' token, named as an administrator would."""
    return {"Authorization": f"Bearer {api_token('provisioning-laptop-3', *PROVISIONING_SCOPES)}"}


def audit(action: str) -> list[AuditEvent]:
    with database.connection_context():
        return list(AuditEvent.select().where(AuditEvent.action == action).order_by(AuditEvent.id))


@pytest.mark.parametrize(
    ("path", "body", "scopes"),
    [
        (ENROL, enrolment(), ("stations:enroll",)),
        (ROTATE, enrolment(), ("stations:enroll",)),
        (DECOMMISSION, {"revoked_serials": ["a1"]}, ("stations:enroll", "stations:command")),
    ],
)
def test_each_answers_401_without_a_token_and_403_without_its_scopes(client, path, body, scopes):
    assert_error(client.post(path, json=body), 401, "token is needed")
    forged = {"Authorization": "Bearer dcs_not-a-token"}
    assert_error(client.post(path, json=body, headers=forged), 401, "unknown or revoked")
    reader = client.post(path, json=body, headers=bearer("stations:read"))
    assert_error(reader, 403, scopes[0])
    assert f'scope="{" ".join(scopes)}"' in reader.headers["WWW-Authenticate"]
    if len(scopes) > 1:  # every scope is needed, not one of them
        assert_error(client.post(path, json=body, headers=bearer(scopes[0])), 403, scopes[1])


def test_an_enrolment_is_recorded_once_with_the_token_as_the_actor(client):
    headers = technician_token()
    first = client.post(ENROL, json=enrolment("a1", technician="somchai"), headers=headers)
    assert first.status_code == 201, first.json
    assert first.json["enrolled_by"] == "somchai" and first.json["kind"] == "enrol"
    assert first.json["certificate_serial"] == "a1"
    expiry = datetime.fromisoformat(first.json["not_after"])
    assert expiry == datetime(2028, 5, 1, 5, tzinfo=UTC)  # kept as UTC, on both databases

    again = client.post(ENROL, json=enrolment("a1", technician="somchai"), headers=headers)
    assert again.status_code == 200 and again.json == first.json
    with database.connection_context():
        assert len(history("st-a")) == 1
    (event,) = audit("station.enrol")
    assert (event.actor, event.subject) == ("provisioning-laptop-3", "st-a")

    unnamed = client.post("/api/v1/stations/st-b/enrolments", json=enrolment("b1"), headers=headers)
    assert unnamed.json["enrolled_by"] == "provisioning-laptop-3"  # no technician named


def test_a_rotation_needs_an_enrolment_and_is_recorded_with_the_token_as_the_actor(client):
    headers = technician_token()
    never = client.post(ROTATE, json=enrolment("b2"), headers=headers)
    assert_error(never, 409, "no enrolment on record")
    client.post(ENROL, json=enrolment("a1"), headers=headers)
    rotated = client.post(ROTATE, json=enrolment("b2", technician="somchai"), headers=headers)
    assert rotated.status_code == 201 and rotated.json["kind"] == "rotate"
    assert client.post(ROTATE, json=enrolment("b2"), headers=headers).status_code == 200
    with database.connection_context():
        assert [e.kind for e in history("st-a")] == ["rotate", "enrol"]
    assert [e.actor for e in audit("station.rotate")] == ["provisioning-laptop-3"]


def test_decommission_marks_known_certificates_and_says_when_there_is_no_replica(client):
    headers = technician_token()
    client.post(ENROL, json=enrolment("a1"), headers=headers)
    client.post(ROTATE, json=enrolment("b2"), headers=headers)
    body = {"revoked_serials": ["a1", "b2", "c3"], "technician": "somchai"}
    done = client.post(DECOMMISSION, json=body, headers=headers)
    assert done.status_code == 200, done.json
    assert [r["certificate_serial"] for r in done.json["decommissioned"]] == ["a1", "b2"]
    assert {r["kind"] for r in done.json["decommissioned"]} == {"decommission"}
    assert done.json["decommissioned"][1]["certificate_sha256"] == "b" * 64  # from its rotation
    assert done.json["unknown_serials"] == ["c3"]
    assert (done.json["wipe"], done.json["wipe_outcome"]) == (None, "no_replica")
    assert "no replica to wipe" in done.json["message"]
    events = audit("station.decommission")
    assert {e.actor for e in events} == {"provisioning-laptop-3"} and len(events) == 3

    again = client.post(DECOMMISSION, json=body, headers=headers)  # a retry marks nothing twice
    assert again.json["decommissioned"] == done.json["decommissioned"]


def test_decommission_queues_the_wipe_on_the_broker_as_the_token(sqlite_url, broker):
    app = create_app(server_config(sqlite_url, broker))
    try:
        client = app.test_client()
        headers = technician_token()
        with database.connection_context():
            key = X25519PrivateKey.generate().public_key().public_bytes_raw()
            enrol_station("st-a", "building-1", key)
        done = client.post(DECOMMISSION, json={"revoked_serials": ["a1"]}, headers=headers)
        assert done.status_code == 200, done.json
        assert done.json["wipe_outcome"] == "queued"
        wipe = done.json["wipe"]
        assert wipe["status"] == "pending" and wipe["command_id"] in done.json["message"]
        with database.connection_context():
            record = CommandRecord.get(CommandRecord.command_id == wipe["command_id"])
            assert (record.name, record.issued_by) == ("wipe_replica", "provisioning-laptop-3")
            assert StationReplica.get_by_id("st-a").suspended  # no more records are sent to it
        (sent,) = audit("command.wipe_replica")
        assert (sent.actor, sent.outcome) == ("provisioning-laptop-3", "sent")
    finally:
        database.close()


def test_a_wipe_the_broker_did_not_take_is_reported_not_sent(client):
    with database.connection_context():
        enrol_station(
            "st-a", "building-1", X25519PrivateKey.generate().public_key().public_bytes_raw()
        )
    done = client.post(DECOMMISSION, json={"revoked_serials": ["a1"]}, headers=technician_token())
    assert done.status_code == 200
    assert (done.json["wipe"], done.json["wipe_outcome"]) == (None, "not_sent")
    with database.connection_context():
        (record,) = CommandRecord.select()
        assert record.status == "failed"  # the dashboard shows it, to send again
        assert StationReplica.get_by_id("st-a").suspended


@pytest.mark.parametrize(
    ("path", "body", "where"),
    [
        ("/api/v1/stations/ST_A/enrolments", enrolment(), "path"),
        ("/api/v1/stations/st-a%0A/enrolments", enrolment(), "path"),
        (ENROL, {"certificate": {**certificate("a1"), "serial": "A1"}}, "json"),
        (ENROL, {"certificate": {**certificate("a1"), "sha256": "ab"}}, "json"),
        (ENROL, {**enrolment(), "technician": "bad\nname"}, "json"),
        (ENROL, {**enrolment(), "extra": 1}, "json"),
        (DECOMMISSION, {"revoked_serials": []}, "json"),
    ],
)
def test_bad_requests_are_422_naming_the_field(client, path, body, where):
    refused = client.post(path, json=body, headers=technician_token())
    assert_error(refused, 422, "")
    assert where in refused.json["errors"]


def test_the_token_endpoint_names_the_token_and_its_scopes(client):
    assert_error(client.get("/api/v1/token"), 401, "token is needed")
    info = client.get("/api/v1/token", headers=technician_token()).json
    assert info == {
        "name": "provisioning-laptop-3",
        "scopes": ["stations:command", "stations:enroll"],
    }


def test_the_document_states_the_scopes_and_the_error_answers(client):
    paths = client.get("/api/v1/openapi.json").json["paths"]
    for path, scopes in [
        ("/api/v1/stations/{station_id}/enrolments", "`stations:enroll`"),
        ("/api/v1/stations/{station_id}/rotations", "`stations:enroll`"),
        ("/api/v1/stations/{station_id}/decommission", "`stations:enroll` and `stations:command`"),
    ]:
        operation = paths[path]["post"]
        assert operation["security"] == [{"bearerAuth": []}]
        assert scopes in operation["description"]
        assert {"200", "401", "403", "422"} <= set(operation["responses"])
        assert paths[path]["parameters"][0]["schema"]["pattern"].startswith("^[a-z0-9]")
