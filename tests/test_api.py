"""The REST API on SQLite and on a real PostgreSQL: tokens, scopes, endpoints, errors."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from sync_server import create_app
from sync_server.api.models import ApiToken
from sync_server.api.tokens import create_token, find_live_token, revoke_tokens
from sync_server.audit.models import AuditEvent
from sync_server.db import database
from sync_server.fleet.models import Station
from sync_server.ingest.apply import apply_batch
from sync_server.ingest.models import RejectedMessage
from sync_server.petitions.service import change_status
from sync_server.replicas import enrol_station
from tests.api_tokens import bearer
from tests.test_ingest_databases import received

PROTECTED = [
    ("/api/v1/petitions/P-ST-A-0000001-X", "petitions:read"),
    ("/api/v1/petitions/P-ST-A-0000001-X/history", "petitions:read"),
    ("/api/v1/stations", "stations:read"),
    ("/api/v1/stations/st-a", "stations:read"),
    ("/api/v1/ingest/stats", "ingest:read"),
    ("/api/v1/ingest/rejections", "ingest:read"),
    ("/metrics", "metrics:read"),
]


@pytest.fixture
def app(database_url):
    app = create_app({"TESTING": True, "SECRET_KEY": "api-tests", "DATABASE_URL": database_url})
    yield app
    database.close()


@pytest.fixture
def client(app):
    return app.test_client()


def assert_error(response, code: int, words: str) -> None:
    """The one error shape: code, status, message."""
    assert response.status_code == code
    assert response.mimetype == "application/json"
    body = response.json
    assert body["code"] == code
    assert body["status"] and words in body["message"]


def test_health_and_the_openapi_document_need_no_token(client):
    assert client.get("/api/v1/health").json == {"status": "ok"}
    spec = client.get("/api/v1/openapi.json").json
    assert spec["openapi"].startswith("3.")
    assert spec["components"]["securitySchemes"]["bearerAuth"]["scheme"] == "bearer"
    assert "security" not in spec["paths"]["/api/v1/health"]["get"]
    for path in ("/api/v1/stations/{station_id}", "/api/v1/petitions/{number}/history"):
        operation = spec["paths"][path]["get"]
        assert operation["security"] == [{"bearerAuth": []}]
        assert {"200", "401", "403", "404"} <= set(operation["responses"])


@pytest.mark.parametrize(("path", "scope"), PROTECTED)
def test_every_other_endpoint_answers_401_without_a_live_token_and_403_without_its_scope(
    client, path, scope
):
    missing = client.get(path)
    assert_error(missing, 401, "token is needed")
    assert missing.headers["WWW-Authenticate"] == 'Bearer realm="dcs"'
    forged = client.get(path, headers={"Authorization": "Bearer dcs_not-a-token"})
    assert_error(forged, 401, "unknown or revoked")
    assert 'error="invalid_token"' in forged.headers["WWW-Authenticate"]
    basic = client.get(path, headers={"Authorization": "Basic dXNlcjpwYXNz"})
    assert_error(basic, 401, "token is needed")

    other = bearer(*({"petitions:read", "stations:read"} - {scope} or {"ingest:read"}))
    denied = client.get(path, headers=other)
    assert_error(denied, 403, scope)
    assert f'scope="{scope}"' in denied.headers["WWW-Authenticate"]
    allowed = client.get(path, headers=bearer(scope))
    assert allowed.status_code in (200, 404)
    assert allowed.headers["Cache-Control"] == "no-store"


def test_a_revoked_token_stops_working_and_both_steps_are_audited(client):
    with database.connection_context():
        issued = create_token("crm", ["stations:read"], actor="tests")
    headers = {"Authorization": f"Bearer {issued.secret}"}
    assert client.get("/api/v1/stations", headers=headers).status_code == 200
    with database.connection_context():
        revoke_tokens("crm", actor="tests")
    assert_error(client.get("/api/v1/stations", headers=headers), 401, "revoked")
    with database.connection_context():
        actions = [e.action for e in AuditEvent.select().order_by(AuditEvent.id)]
        stored = ApiToken.get_by_id(issued.record.id)
    assert actions == ["api_token.create", "api_token.revoke"]
    assert issued.secret not in (stored.token_hash, stored.hint)
    assert stored.revoked_at is not None


def test_last_used_is_recorded_at_most_once_a_minute(client):
    with database.connection_context():
        issued = create_token("erp", ["stations:read"], actor="tests")
        assert issued.record.last_used_at is None
        first = find_live_token(issued.secret)
        soon = find_live_token(issued.secret, now=first.last_used_at + timedelta(seconds=30))
        later = find_live_token(issued.secret, now=first.last_used_at + timedelta(minutes=2))
    assert utc(soon.last_used_at) == utc(first.last_used_at)
    assert utc(later.last_used_at) - utc(first.last_used_at) == timedelta(minutes=2)
    with database.connection_context():  # and it reached the database
        assert utc(ApiToken.get_by_id(issued.record.id).last_used_at) == utc(later.last_used_at)


def utc(value: datetime) -> datetime:
    """PostgreSQL's timestamp columns come back naive; the server writes UTC."""
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def test_petition_status_and_history_disclose_no_personal_data(client):
    item = received(1)
    with database.connection_context():
        apply_batch(database.obj, [item])
        number = item.tx.body["number"]
        change_status(number, "in_review", actor="officer-1", comment="called Ms Somchai")
    headers = bearer("petitions:read")

    status = client.get(f"/api/v1/petitions/{number.lower()}", headers=headers)
    assert status.json["number"] == number
    assert status.json["status"] == "in_review"
    assert set(status.json) == {"number", "service", "status", "station_id", "received_at"}

    history = client.get(f"/api/v1/petitions/{number}/history", headers=headers)
    assert [step["status"] for step in history.json["history"]] == ["received", "in_review"]
    assert all(set(step) == {"status", "at"} for step in history.json["history"])
    for response in (status, history):
        text = response.get_data(as_text=True)
        assert "0812345678" not in text
        assert "Somchai" not in text
        assert "officer-1" not in text
    received_at = datetime.fromisoformat(status.json["received_at"])
    assert received_at.utcoffset() == timedelta(0)  # RFC 3339 with its offset, on both databases

    missing = client.get("/api/v1/petitions/P-ST-A-0000009-X/history", headers=headers)
    assert_error(missing, 404, "no petition")


def test_stations_list_filter_and_detail(client):
    with database.connection_context():
        apply_batch(database.obj, [received(1), received(2, station_id="st-b")])
        Station.update(
            presence="online",
            last_heartbeat_at=datetime.now(UTC),
            backlog=3,
            oldest_undelivered_age_s=12.5,
            metrics=json.dumps({"printer_state": 2.0, "tamper_open": 1.0}),
        ).where(Station.station_id == "st-a").execute()
        enrol_station(
            "st-a", "building-2", X25519PrivateKey.generate().public_key().public_bytes_raw()
        )
    headers = bearer("stations:read")

    stations = client.get("/api/v1/stations", headers=headers).json["stations"]
    assert [s["station_id"] for s in stations] == ["st-a", "st-b"]
    online = client.get("/api/v1/stations?presence=online", headers=headers).json["stations"]
    assert [s["station_id"] for s in online] == ["st-a"]
    bad = client.get("/api/v1/stations?presence=sleeping", headers=headers)
    assert_error(bad, 422, "")
    assert "presence" in bad.json["errors"]["query"]

    detail = client.get("/api/v1/stations/st-a", headers=headers).json
    assert detail["backlog"] == 3
    assert detail["oldest_undelivered_age_s"] == 12.5
    assert detail["device_metrics"] == {"printer_state": 2.0, "tamper_open": 1.0}
    assert detail["replica"]["building"] == "building-2"
    assert detail["replica"]["suspended"] is False
    plain = client.get("/api/v1/stations/st-b", headers=headers).json
    assert (plain["device_metrics"], plain["replica"]) == ({}, None)
    assert_error(client.get("/api/v1/stations/st-z", headers=headers), 404, "no station")


def test_ingest_stats_and_the_latest_rejections(client):
    with database.connection_context():
        apply_batch(database.obj, [received(1), received(2)])
        for n in range(3):
            RejectedMessage.create(
                topic="dcs/v1/stations/st-a/tx",
                topic_station_id="st-a",
                reason=f"reason {n}",
                size=10,
                payload_sha256="0" * 64,
            )
    headers = bearer("ingest:read")
    stats = client.get("/api/v1/ingest/stats", headers=headers).json
    assert stats == {"applied": 2, "petitions": 2, "rejected": 3}
    latest = client.get("/api/v1/ingest/rejections?limit=2", headers=headers).json["rejections"]
    assert [r["reason"] for r in latest] == ["reason 2", "reason 1"]
    assert_error(client.get("/api/v1/ingest/rejections?limit=0", headers=headers), 422, "")


def test_api_errors_are_json_and_the_pages_keep_theirs(client):
    assert_error(client.get("/api/v1/no-such-thing"), 404, "")
    assert_error(client.post("/api/v1/health"), 405, "")
    page = client.get("/no-such-page")
    assert page.status_code == 404
    assert page.mimetype == "text/html"


def test_the_reference_page_renders_the_document_with_local_assets_only(client):
    page = client.get("/api/v1/docs")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    spec = client.get("/api/v1/openapi.json").json
    for path in spec["paths"]:
        assert f"<code>{path}</code>" in html
    assert "<code>stations:read</code>" in html
    assert "integer 1–1000, default 100" in html  # the rejections' limit
    assert "<script" not in html
    assert "http://" not in html and "https://" not in html  # nothing from elsewhere
    with client.get("/api/v1/docs-static/api-docs.css") as css:
        assert css.status_code == 200


def test_a_pages_app_wide_404_handler_leaves_the_api_errors_json(app, client):
    @app.errorhandler(404)
    def page_not_found(error):
        return "<h1>page not found</h1>", 404

    headers = bearer("petitions:read")
    assert_error(client.get("/api/v1/petitions/P-ST-A-0000009-X", headers=headers), 404, "no pet")
    assert_error(client.get("/api/v1/stations"), 401, "token")
    assert client.get("/no-such-page").get_data(as_text=True) == "<h1>page not found</h1>"
