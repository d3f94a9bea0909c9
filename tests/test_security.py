"""Production hardening: the secret key, the production profile, headers on every response."""

from __future__ import annotations

import secrets

import pytest

from sync_server import ServerConfigError, create_app
from sync_server.db import database
from sync_server.security import secret_key_problem

GOOD_KEY = secrets.token_urlsafe(48)


@pytest.fixture(autouse=True)
def no_outside_config(monkeypatch):
    for name in ("DCS_SERVER_CONFIG", "DCS_SECRET_KEY", "DCS_PRODUCTION", "DCS_TESTING"):
        monkeypatch.delenv(name, raising=False)
    yield
    if database.obj is not None:
        database.close()


@pytest.mark.parametrize(
    ("key", "problem"),
    [
        (None, "not set"),
        ("", "not set"),
        ("dev", "shorter than 32"),
        ("k" * 31, "shorter than 32"),
        ("please-change-me-before-going-to-production", "placeholder"),
        ("REPLACE_WITH_A_LONG_RANDOM_STRING_0123456789", "placeholder"),
        ("ab" * 20, "too few distinct"),
        pytest.param(GOOD_KEY, None, id="a-random-key"),
    ],
)
def test_secret_key_rules(key, problem):
    found = secret_key_problem(key)
    assert found is None if problem is None else problem in found


@pytest.mark.parametrize("key", ["dev", "your-secret-key-goes-here-xxxxxxxxxxxxx"])
def test_the_app_refuses_a_weak_key_outside_tests_and_accepts_a_real_one(sqlite_url, key):
    with pytest.raises(ServerConfigError, match="SECRET_KEY"):
        create_app({"SECRET_KEY": key, "DATABASE_URL": sqlite_url})
    assert create_app({"SECRET_KEY": GOOD_KEY, "DATABASE_URL": sqlite_url}).secret_key == GOOD_KEY


@pytest.mark.parametrize(
    "path", ["/api/v1/health", "/api/v1/stations", "/track", "/track/static/track.css", "/nowhere"]
)
def test_every_response_carries_the_security_headers(sqlite_url, path):
    app = create_app({"TESTING": True, "SECRET_KEY": "t", "DATABASE_URL": sqlite_url})
    with app.test_client().get(path) as response:  # a static file streams until closed
        headers = response.headers
    policy = headers["Content-Security-Policy"]
    assert "default-src 'self'" in policy
    assert "frame-ancestors 'none'" in policy
    assert "unsafe-inline" not in policy
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["X-Frame-Options"] == "DENY"
    assert headers["Referrer-Policy"] == "no-referrer"
    assert "Strict-Transport-Security" not in headers


#: Production refuses the sink SMS driver (it keeps the one-time codes readable).
PRODUCTION_SMS = {
    "SMS_GATEWAY": "http",
    "SMS_HTTP_URL": "https://sms.example.invalid/send",
    "SMS_HTTP_TOKEN": "provider-token",
}


def production_app(sqlite_url: str, **extra: object):
    return create_app(
        {
            "PRODUCTION": True,
            "SECRET_KEY": GOOD_KEY,
            "DATABASE_URL": sqlite_url,
            **PRODUCTION_SMS,
            **extra,
        }
    )


def test_production_cookies_are_secure_httponly_samesite_and_urls_https(sqlite_url):
    app = production_app(sqlite_url)
    assert app.config["PREFERRED_URL_SCHEME"] == "https"
    client = app.test_client()
    page = client.get("/track", base_url="https://dcs.example")
    assert page.status_code == 200
    cookie = page.headers["Set-Cookie"]  # the session carrying the form's CSRF token
    assert cookie.startswith("__Host-dcs-session=")
    assert "Secure" in cookie
    assert "Path=/" in cookie
    assert "Domain" not in cookie
    assert "HttpOnly" in cookie
    assert "SameSite=Lax" in cookie
    assert page.headers["Strict-Transport-Security"].startswith("max-age=31536000")


def test_forms_need_their_csrf_token_in_production(sqlite_url):
    client = production_app(sqlite_url).test_client()
    refused = client.post(
        "/track",
        data={"number": "P-ST-A-0000001-X", "phone": "0812345678"},
        base_url="https://dcs.example",
        headers={"Referer": "https://dcs.example/track"},
    )
    assert refused.status_code == 400
    assert "CSRF" in refused.get_data(as_text=True)


def test_behind_a_proxy_the_forwarded_scheme_turns_on_hsts(sqlite_url):
    app = production_app(sqlite_url, PROXY_COUNT=1)
    forwarded = {"X-Forwarded-Proto": "https", "X-Forwarded-For": "203.0.113.9"}
    proxied = app.test_client().get("/api/v1/health", headers=forwarded)
    assert "Strict-Transport-Security" in proxied.headers
    direct = app.test_client().get("/api/v1/health", base_url="http://dcs.example")  # plain
    assert "Strict-Transport-Security" not in direct.headers


def test_production_and_testing_cannot_be_mixed(sqlite_url):
    with pytest.raises(ServerConfigError, match="PRODUCTION and TESTING"):
        production_app(sqlite_url, TESTING=True)


def test_production_redirects_plain_http_to_https_except_the_health_check(sqlite_url):
    client = production_app(sqlite_url).test_client()
    plain = client.get("/track?number=P-ST-A-0000001-X", base_url="http://dcs.example")
    assert plain.status_code == 308
    assert plain.headers["Location"] == "https://dcs.example/track?number=P-ST-A-0000001-X"
    assert client.get("/api/v1/health", base_url="http://dcs.example").status_code == 200
    assert client.get("/track", base_url="https://dcs.example").status_code == 200
