"""Production hardening: the secret-key check, the production profile, security headers.

- Outside tests the server refuses a missing, short or placeholder ``SECRET_KEY``: it signs
  the session and CSRF tokens and keys the one-time-code hashes.
- ``PRODUCTION = true`` (``DCS_PRODUCTION=true``) redirects plain HTTP to HTTPS (308) and turns
  on HTTPS-only cookies, ``https`` URLs and HSTS; ``PROXY_COUNT = 1`` trusts one reverse
  proxy's ``X-Forwarded-*`` headers so the app knows a request came in over HTTPS.
- Every response carries the security headers; the Content-Security-Policy allows only this
  server's own scripts, styles and images — no inline code, no CDN.
"""

from __future__ import annotations

from flask import Flask, Response, redirect, request
from werkzeug.middleware.proxy_fix import ProxyFix

from sync_server.config import ServerConfigError

MIN_SECRET_KEY_LENGTH = 32
#: Words that mark a value copied from an example rather than generated.
PLACEHOLDER_MARKERS = (
    "change",
    "replace",
    "example",
    "placeholder",
    "your-secret",
    "your_secret",
    "insecure",
    "default",
)
#: A generated key of 32+ characters has far more distinct characters than this.
MIN_DISTINCT_CHARACTERS = 10

KEY_ADVICE = (
    "put a long random value in the server config "
    "(python -c 'import secrets; print(secrets.token_urlsafe(48))')"
)

#: The policy every page is held to; a page needing more must say so in its own header.
CONTENT_SECURITY_POLICY = "; ".join(
    (
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "connect-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    )
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    # Tracking links carry a petition number in the query: never send it to another site.
    "Referrer-Policy": "no-referrer",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=(), payment=()",
}

#: Paths answered over plain HTTP in production; everything else is redirected to HTTPS.
PLAIN_HTTP_PATHS = frozenset({"/api/v1/health"})

#: What ``PRODUCTION = true`` sets, whatever the config file says.
PRODUCTION_SETTINGS = {
    "SESSION_COOKIE_SECURE": True,
    # __Host-: browsers accept it only from HTTPS, for this host, for path / (no sub-domain
    # or sibling site can plant or overwrite it).
    "SESSION_COOKIE_NAME": "__Host-dcs-session",
    "SESSION_COOKIE_PATH": "/",
    "SESSION_COOKIE_DOMAIN": None,
    "SESSION_COOKIE_HTTPONLY": True,
    "SESSION_COOKIE_SAMESITE": "Lax",
    "PREFERRED_URL_SCHEME": "https",
    "WTF_CSRF_SSL_STRICT": True,  # a POST over HTTPS must come from this very origin
}


def secret_key_problem(key: object) -> str | None:
    """Why ``key`` is not a real secret key, or None when it looks like one."""
    if not key:
        return "SECRET_KEY is not set"
    if not isinstance(key, str | bytes):
        return "SECRET_KEY must be a string"
    text = key if isinstance(key, str) else key.decode("latin-1")
    if len(text) < MIN_SECRET_KEY_LENGTH:
        return f"SECRET_KEY is shorter than {MIN_SECRET_KEY_LENGTH} characters"
    lowered = text.lower()
    if any(marker in lowered for marker in PLACEHOLDER_MARKERS):
        return "SECRET_KEY looks like a placeholder copied from an example"
    if len(set(text)) < MIN_DISTINCT_CHARACTERS:
        return "SECRET_KEY has too few distinct characters to be random"
    return None


def check_secret_key(app: Flask) -> None:
    """Refuse to start outside tests without a real secret key."""
    if app.testing:
        return
    problem = secret_key_problem(app.config.get("SECRET_KEY"))
    if problem:
        raise ServerConfigError(f"{problem}: {KEY_ADVICE}")


def apply_profile(app: Flask) -> None:
    """Apply the production profile when ``PRODUCTION`` is set; trust a configured proxy."""
    if app.config.get("PRODUCTION"):
        if app.testing:
            raise ServerConfigError("PRODUCTION and TESTING cannot both be set")
        app.config.update(PRODUCTION_SETTINGS)
    proxies = int(app.config.get("PROXY_COUNT") or 0)
    if proxies:
        app.wsgi_app = ProxyFix(  # type: ignore[method-assign]
            app.wsgi_app, x_for=proxies, x_proto=proxies, x_host=proxies, x_port=proxies
        )


def init_app(app: Flask) -> None:
    """Check the key, apply the profile and add the security headers to every response."""
    check_secret_key(app)
    apply_profile(app)
    hsts = f"max-age={int(app.config['HSTS_MAX_AGE_S'])}; includeSubDomains"

    if app.config.get("PRODUCTION"):

        @app.before_request
        def _https_only() -> Response | None:
            # Load balancers probe the health check over plain HTTP inside the network.
            if request.is_secure or request.path in PLAIN_HTTP_PATHS:
                return None
            return redirect(request.url.replace("http://", "https://", 1), code=308)

    @app.after_request
    def _security_headers(response: Response) -> Response:
        for name, value in SECURITY_HEADERS.items():
            response.headers.setdefault(name, value)
        if request.is_secure:  # HSTS over plain HTTP is ignored by browsers and misleading
            response.headers.setdefault("Strict-Transport-Security", hsts)
        return response
