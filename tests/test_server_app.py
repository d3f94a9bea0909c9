"""The Flask factory and its small API."""

from __future__ import annotations

import pytest

from sync_server import ServerConfigError, create_app
from sync_server.db import database
from sync_server.ingest.apply import apply_batch
from sync_server.migrations import upgrade_url
from tests.api_tokens import bearer
from tests.test_ingest_databases import received

FILE_KEY = "from-file-0123456789abcdefghijklmnop"


def test_refuses_to_start_without_a_secret_key_outside_tests(tmp_path, monkeypatch):
    monkeypatch.delenv("DCS_SECRET_KEY", raising=False)
    monkeypatch.delenv("DCS_SERVER_CONFIG", raising=False)
    with pytest.raises(ServerConfigError, match="SECRET_KEY"):
        create_app({"DATABASE_URL": f"sqlite:///{tmp_path / 'x.sqlite3'}"})


def test_config_file_then_environment_then_test_overrides(tmp_path, monkeypatch):
    config = tmp_path / "server.toml"
    database_url = upgrade_url(f"sqlite:///{tmp_path / 'a.sqlite3'}")
    config.write_text(
        f'SECRET_KEY = "{FILE_KEY}"\nMQTT_PORT = 1\nDATABASE_URL = "{database_url}"\n'
    )
    monkeypatch.setenv("DCS_SERVER_CONFIG", str(config))
    monkeypatch.setenv("DCS_MQTT_PORT", "2")
    app = create_app()
    assert (app.config["SECRET_KEY"], app.config["MQTT_PORT"]) == (FILE_KEY, 2)
    app = create_app({"TESTING": True, "MQTT_PORT": 3})
    assert app.config["MQTT_PORT"] == 3
    database.close()


@pytest.fixture
def client(tmp_path):
    app = create_app(
        {"TESTING": True, "DATABASE_URL": upgrade_url(f"sqlite:///{tmp_path / 's.sqlite3'}")}
    )
    with app.test_client() as client:
        client.environ_base["HTTP_AUTHORIZATION"] = bearer()["Authorization"]
        yield client
    database.close()


def test_health(client):
    assert client.get("/api/v1/health").json == {"status": "ok"}


def test_petition_lookup_is_case_insensitive_and_404s_cleanly(client):
    item = received(1)
    apply_batch(database.obj, [item])
    number = item.tx.body["number"]
    assert client.get(f"/api/v1/petitions/{number.lower()}").json["number"] == number
    missing = client.get("/api/v1/petitions/P-ST-A-0000009-X")
    assert missing.status_code == 404
    assert "no petition" in missing.get_data(as_text=True)


def test_stations_and_stats(client):
    apply_batch(database.obj, [received(1), received(2, station_id="st-b")])
    stations = client.get("/api/v1/stations").json["stations"]
    assert [s["station_id"] for s in stations] == ["st-a", "st-b"]
    assert stations[0]["transactions_applied"] == 1
    assert client.get("/api/v1/ingest/stats").json == {"applied": 2, "petitions": 2, "rejected": 0}
