"""``dcs-server api-token create|list|revoke`` through click's runner."""

from __future__ import annotations

import secrets

import pytest
from click.testing import CliRunner

from sync_server import create_app
from sync_server.cli import main
from sync_server.db import database


@pytest.fixture
def runner(tmp_path, monkeypatch):
    config = tmp_path / "server.toml"
    config.write_text(
        f'SECRET_KEY = "{secrets.token_urlsafe(48)}"\n'
        f'DATABASE_URL = "sqlite:///{tmp_path / "dcs.sqlite3"}"\n'
    )
    monkeypatch.setenv("DCS_SERVER_CONFIG", str(config))
    monkeypatch.setenv("COLUMNS", "160")  # a stable table width
    runner = CliRunner()
    upgraded = runner.invoke(main, ["db", "upgrade"])
    assert upgraded.exit_code == 0, upgraded.output
    yield runner
    database.close()


def test_create_list_use_and_revoke(runner):
    created = runner.invoke(
        main, ["api-token", "create", "--name", "prometheus", "--scope", "metrics:read"]
    )
    assert created.exit_code == 0, created.output
    token = created.stdout.strip()
    assert token.startswith("dcs_") and len(token) > 40
    assert "shown only now" in created.stderr

    client = create_app().test_client()
    assert client.get("/metrics", headers={"Authorization": f"Bearer {token}"}).status_code == 200
    assert (
        client.get("/api/v1/stations", headers={"Authorization": f"Bearer {token}"}).status_code
        == 403
    )

    listed = runner.invoke(main, ["api-token", "list"])
    assert listed.exit_code == 0
    assert "prometheus" in listed.stdout
    assert token[:8] in listed.stdout
    assert token not in listed.stdout  # only its first characters are kept

    revoked = runner.invoke(main, ["api-token", "revoke", "prometheus"])
    assert revoked.exit_code == 0
    assert "revoked token 1 (prometheus)" in revoked.stdout
    assert client.get("/metrics", headers={"Authorization": f"Bearer {token}"}).status_code == 401
    again = runner.invoke(main, ["api-token", "revoke", "1"])
    assert again.exit_code == 1
    assert "no live token" in again.output


def test_unknown_scopes_and_missing_scopes_are_refused(runner):
    unknown = runner.invoke(main, ["api-token", "create", "--name", "x", "--scope", "admin"])
    assert unknown.exit_code == 2
    assert "admin" in unknown.output
    missing = runner.invoke(main, ["api-token", "create", "--name", "x"])
    assert missing.exit_code == 2
