"""The kiosk: a local web app the station daemon serves to its Chromium in kiosk mode.

``create_kiosk_app(station)`` builds the Flask app (one blueprint per flow) around a
:class:`~device.kiosk.state.KioskState`, which follows the card reader and holds the one
visit at a time. ``device.kiosk.server.KioskServer`` serves it on loopback with cheroot, a
threaded WSGI server that streams the server-sent events the page listens to. See
docs/kiosk.md.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from flask import Flask, g, request
from werkzeug.exceptions import HTTPException

from device.config import KioskConfig
from device.kiosk import i18n
from device.kiosk.hosts import LoopbackHostOnly, host_name_for
from device.kiosk.state import KioskState, VisitGoneError

if TYPE_CHECKING:
    from device.station import Station

__all__ = ["KioskState", "create_kiosk_app", "kiosk_state"]

_EXTENSION = "dcs_kiosk"


def create_kiosk_app(
    station: Station,
    config: KioskConfig | None = None,
    *,
    state: KioskState | None = None,
    test_config: dict[str, Any] | None = None,
) -> Flask:
    """The kiosk app for ``station`` (its ``[kiosk]`` section, or ``config``, or defaults).

    The returned app's :class:`KioskState` is not started: the server starts it (or call
    ``kiosk_state(app).start()``), so building the app has no side effects.
    """
    config = config or station.config.kiosk or KioskConfig()
    app = Flask(__name__)
    # The session cookie carries nothing personal (only the display mode); the key is
    # per process because nothing outlives the process.
    app.config.update(SECRET_KEY=_random_key(), SESSION_COOKIE_SAMESITE="Strict")
    if test_config:
        app.config.update(test_config)
    app.extensions[_EXTENSION] = state or KioskState(station, config)
    # Outermost: a foreign Host header is refused before any view, hook or session runs.
    app.wsgi_app = LoopbackHostOnly(  # type: ignore[method-assign]
        app.wsgi_app, [*config.allowed_hosts, host_name_for(config.host)]
    )
    i18n.init_app(app, config.default_language, station.config.local_time)
    _language_urls(app, config.default_language)

    from device.kiosk.views import (
        bills,
        checkup,
        counter,
        eid,
        home,
        insured,
        password,
        petition,
        stream,
        tracking,
    )

    for module in (
        home, stream, insured, petition, tracking, password, eid, counter, bills, checkup,
    ):  # fmt: skip
        app.register_blueprint(module.bp)
    app.after_request(_no_store)
    app.before_request(_out_of_service)
    app.before_request(_officer_first)
    app.context_processor(_counter_context)
    app.register_error_handler(VisitGoneError, _visit_gone)
    app.register_error_handler(HTTPException, _http_error)
    app.register_error_handler(Exception, _server_error)
    return app


def _out_of_service():  # type: ignore[no-untyped-def]
    """While operations hold the kiosk out of service, every screen is the closed screen.

    Rendered like every other screen (``render``: the kiosk's config, the language links,
    the status bar), in the language of the address, so it is never a bare 500.
    """
    from flask import current_app, request

    from device.kiosk.views.common import render

    lock = kiosk_state(current_app).station.service_lock
    if lock is None or not lock.locked or request.endpoint in (None, "static"):
        return None
    if request.endpoint.startswith("stream."):
        return None  # the page keeps its event stream, to reload when unlocked
    return render("locked.html", page="locked"), 503


def _officer_first():  # type: ignore[no-untyped-def]
    """Counter mode: no screen but the login until an officer is logged in."""
    from flask import current_app, redirect, request, url_for

    counter = kiosk_state(current_app).counter
    if counter is None:
        return None
    endpoint = request.endpoint or ""
    if endpoint == "static" or endpoint.startswith(("counter.", "stream.")):
        return None
    if endpoint in ("home.root", "home.display"):
        return None
    if counter.officer is not None:
        if request.method != "GET" or counter.still_valid():
            return None
        return redirect(url_for("counter.login", error="session_ended"))
    return redirect(url_for("counter.login"))


def _counter_context() -> dict[str, Any]:
    from flask import current_app

    counter = kiosk_state(current_app).counter
    return {"counter": counter, "officer": counter.officer if counter is not None else None}


def kiosk_state(app: Flask) -> KioskState:
    """The app's kiosk state."""
    return app.extensions[_EXTENSION]


def _random_key() -> bytes:
    import secrets

    return secrets.token_bytes(32)


def _language_urls(app: Flask, default_language: str) -> None:
    """Every screen lives under ``/<lang>/``; links keep the language they were made in."""

    @app.url_value_preprocessor
    def pull_language(endpoint: str | None, values: dict[str, Any] | None) -> None:
        lang = values.pop("lang", None) if values else None
        if lang is not None and lang not in i18n.LANGUAGES:
            from flask import abort

            abort(404)
        g.lang = lang or default_language

    @app.url_defaults
    def add_language(endpoint: str, values: dict[str, Any]) -> None:
        if "lang" not in values and app.url_map.is_endpoint_expecting(endpoint, "lang"):
            values["lang"] = getattr(g, "lang", default_language)


def _http_error(error: HTTPException):  # type: ignore[no-untyped-def]
    """A missing page or a refused request: a screen in the kiosk's language with a way home,
    never the framework's bare English page."""
    from device.kiosk.views.common import render

    status = error.code or 500
    kind = "missing" if status in (404, 405) else "broken"
    if request.endpoint is None or "lang" not in g:
        # No route matched, or the address's language was refused before it was read: read
        # it here (``/favicon.ico/`` and the like have none: the kiosk's default).
        from flask import current_app

        first = request.path.strip("/").split("/", 1)[0]
        default = kiosk_state(current_app).config.default_language
        g.lang = first if first in i18n.LANGUAGES else default
    return render("oops.html", page="error", kind=kind, status=status), status


def _server_error(error: Exception):  # type: ignore[no-untyped-def]
    """A bug: logged with its traceback (no personal data is in the request), then the same
    screen; the resident's data is not on it (no visit is passed)."""
    import logging

    from device.kiosk.views.common import render

    logging.getLogger(__name__).exception("kiosk screen failed: %s", type(error).__name__)
    try:
        return render("oops.html", page="error", kind="broken", status=500), 500
    except Exception:  # the layout itself is broken: a plain page, still with a way home
        return '<!doctype html><meta charset="utf-8"><a href="/">⌂</a>', 500


def _visit_gone(error: VisitGoneError):  # type: ignore[no-untyped-def]
    """A page or form of a visit that has ended goes back to the home screen."""
    from flask import redirect, url_for

    return redirect(url_for("home.index"))


def _no_store(response):  # type: ignore[no-untyped-def]
    """Nothing a kiosk shows may be kept by the browser's cache or history."""
    if request.endpoint != "static":
        response.headers["Cache-Control"] = "no-store"
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Referrer-Policy"] = "no-referrer"
    return response
