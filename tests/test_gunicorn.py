"""The production entry point: gunicorn with gunicorn.conf.py and sync_server.wsgi, as a process.

It starts on a free loopback port, answers the health check and an authorised API call,
sends the security headers, keeps query strings out of its access log, and stops by pid.
With a placeholder secret key it refuses to boot.
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from devtools.net import free_port, wait_for_port

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent


def server_env(tmp_path: Path, secret_key: str, port: int) -> dict[str, str]:
    """A server config file and the environment gunicorn and dcs-server read it from."""
    config = tmp_path / "server.toml"
    config.write_text(
        f'SECRET_KEY = "{secret_key}"\nDATABASE_URL = "sqlite:///{tmp_path / "dcs.sqlite3"}"\n'
    )
    return {
        **os.environ,
        "DCS_SERVER_CONFIG": str(config),
        "DCS_BIND": f"127.0.0.1:{port}",
        "DCS_WEB_WORKERS": "2",
        "DCS_ACCESS_LOG": str(tmp_path / "access.log"),
    }


def get(url: str, token: str | None = None) -> tuple[int, dict[str, str], bytes]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    request = urllib.request.Request(url, headers=headers)  # noqa: S310 - loopback http
    try:
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read()


@pytest.fixture
def gunicorn(tmp_path):
    started: list[subprocess.Popen] = []

    def start(env: dict[str, str]) -> subprocess.Popen:
        with (tmp_path / "gunicorn.err").open("wb") as errors:
            process = subprocess.Popen(
                [BIN / "gunicorn", "-c", ROOT / "gunicorn.conf.py"],
                cwd=ROOT,
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=errors,
            )
        started.append(process)
        return process

    yield start
    for process in started:
        if process.poll() is None:
            os.kill(process.pid, signal.SIGKILL)
            process.wait(timeout=30)


def test_gunicorn_serves_the_app_and_stops_by_pid(tmp_path, gunicorn):
    port = free_port()
    env = server_env(tmp_path, secrets.token_urlsafe(48), port)
    upgraded = subprocess.run(
        [BIN / "dcs-server", "db", "upgrade"], env=env, capture_output=True, text=True
    )
    assert upgraded.returncode == 0, upgraded.stderr
    assert "applied 001_initial" in upgraded.stdout
    token = subprocess.run(
        [BIN / "dcs-server", "api-token", "create", "--name", "probe", "--scope", "all"],
        env=env,
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    process = gunicorn(env)
    assert wait_for_port("127.0.0.1", port, attempts=600), "gunicorn did not listen"
    base = f"http://127.0.0.1:{port}"

    status, headers, body = get(f"{base}/api/v1/health")
    assert (status, json.loads(body)) == (200, {"status": "ok"})
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert "frame-ancestors 'none'" in headers["Content-Security-Policy"]
    assert "Strict-Transport-Security" not in headers  # plain HTTP: HSTS would be ignored

    status, _, body = get(f"{base}/api/v1/stations?presence=online", token)
    assert (status, json.loads(body)) == (200, {"stations": []})
    assert get(f"{base}/api/v1/stations")[0] == 401
    status, _, _ = get(f"{base}/track?number=P-ST-A-0000001-X&phone=0812345678")
    assert status == 200

    os.kill(process.pid, signal.SIGTERM)
    assert process.wait(timeout=60) == 0
    access_log = (tmp_path / "access.log").read_text()
    assert '"GET /api/v1/health HTTP/1.1" 200' in access_log
    assert '"GET /track HTTP/1.1" 200' in access_log
    assert "0812345678" not in access_log
    assert "P-ST-A" not in access_log
    assert token not in access_log


def test_gunicorn_refuses_to_boot_with_a_placeholder_secret_key(tmp_path, gunicorn):
    env = server_env(tmp_path, "please-change-me-before-going-to-production", free_port())
    process = gunicorn(env)
    assert process.wait(timeout=120) != 0
    assert "SECRET_KEY looks like a placeholder" in (tmp_path / "gunicorn.err").read_text()


def test_gunicorn_refuses_to_boot_on_a_database_behind_the_code(tmp_path, gunicorn):
    """The server never creates tables: it names the command that does."""
    env = server_env(tmp_path, secrets.token_urlsafe(48), free_port())
    process = gunicorn(env)
    assert process.wait(timeout=120) != 0
    errors = (tmp_path / "gunicorn.err").read_text()
    assert "the database schema is behind" in errors
    assert "dcs-server db upgrade" in errors
    behind = subprocess.run(
        [BIN / "dcs-server", "ingest"], env=env, capture_output=True, text=True, timeout=60
    )
    assert behind.returncode != 0 and "dcs-server db upgrade" in behind.stderr
