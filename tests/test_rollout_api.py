"""``/api/v1/rollouts``: scopes, create a release rollout, show its waves, abort it."""

from __future__ import annotations

from pathlib import Path

import pytest

from sync_server import create_app
from sync_server.audit.models import AuditEvent
from sync_server.db import database
from sync_server.rollouts import releases
from sync_server.rollouts.manifest import release_public_key
from sync_server.rollouts.store import FileStore
from tests.api_tokens import bearer
from tests.rollout_fixtures import RELEASE_PUBLIC, make_artifact, put_stations


@pytest.fixture
def app(sqlite_url, tmp_path):
    app = create_app(
        {"TESTING": True, "SECRET_KEY": "rollout-api-tests", "DATABASE_URL": sqlite_url}
    )
    yield app
    database.close()


def test_rollouts_through_the_api(app, tmp_path: Path):
    client = app.test_client()
    put_stations("st-a", "st-b", "st-c")
    with database.connection_context():
        releases.upload(
            make_artifact(tmp_path / "artifact"),
            public_key=release_public_key(RELEASE_PUBLIC),
            store=FileStore(tmp_path / "store"),
            actor="ops",
        )
    body = {
        "release": "0.2.0",
        "target": {"kind": "stations", "stations": ["st-c", "st-a", "st-b"]},
        "waves": [1, 2],
        "success_pct": 100,
        "abort_pct": 20,
    }
    assert client.post("/api/v1/rollouts", json=body).status_code == 401
    reader = bearer("rollouts:read")
    assert client.post("/api/v1/rollouts", json=body, headers=reader).status_code == 403
    writer = bearer("rollouts:read", "rollouts:write")
    created = client.post("/api/v1/rollouts", json=body, headers=writer)
    assert created.status_code == 201, created.json
    rollout = created.json
    assert rollout["release"] == "0.2.0" and rollout["state"] == "running"
    assert [w["number"] for w in rollout["waves"]] == [1, 2]
    assert [j["station_id"] for j in rollout["waves"][0]["jobs"]] == ["st-c"]
    assert rollout["figures"]["stations"] == 3

    listed = client.get("/api/v1/rollouts", headers=reader).json["rollouts"]
    assert [r["rollout_id"] for r in listed] == [rollout["rollout_id"]]
    shown = client.get(f"/api/v1/rollouts/{rollout['rollout_id']}", headers=reader)
    assert shown.json["waves"][0]["state"] == "running"
    assert client.get("/api/v1/rollouts/nope", headers=reader).status_code == 404

    bad = client.post(
        "/api/v1/rollouts",
        json={k: v for k, v in body.items() if k != "release"}
        | {"config": {"label": "x", "settings": {"broker.host": "evil"}}},
        headers=writer,
    )
    assert bad.status_code == 409 and "may not be changed remotely" in bad.json["message"]
    bad = client.post(
        "/api/v1/rollouts",
        json={k: v for k, v in body.items() if k != "release"}
        | {"config": {"label": "x", "settings": {"sync.window": 0}}},
        headers=writer,
    )
    assert bad.status_code == 409 and "sync.window" in bad.json["message"]
    unknown = client.post("/api/v1/rollouts", json=body | {"release": "9.9.9"}, headers=writer)
    assert unknown.status_code == 409

    url = f"/api/v1/rollouts/{rollout['rollout_id']}/abort"
    aborted = client.post(url, json={"reason": "bad canary"}, headers=writer)
    assert aborted.status_code == 200
    assert aborted.json["state"] == "aborted" and aborted.json["reason"] == "bad canary"
    assert [w["state"] for w in aborted.json["waves"]] == ["aborted", "cancelled"]
    assert client.post(url, json={}, headers=writer).status_code == 409
    with database.connection_context():
        actors = {e.actor for e in AuditEvent.select().where(AuditEvent.action == "rollout.abort")}
    assert actors == {"token:tests"}
    spec = client.get("/api/v1/openapi.json").json
    assert spec["paths"]["/api/v1/rollouts"]["post"]["security"] == [{"bearerAuth": []}]
