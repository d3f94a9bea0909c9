"""The public REST API under ``/api/v1``, its OpenAPI document, and the Prometheus metrics.

Built on flask-smorest: each area is a blueprint whose marshmallow schemas check the requests,
serialise the responses and generate ``/api/v1/openapi.json``. Every endpoint except the health
check and the document itself needs a bearer token (``dcs-server api-token create``). See
docs/api.md.
"""

from __future__ import annotations

from flask import Flask, request

API_DESCRIPTION = (
    "API of the Digital Citizen Station central server: read-only for integrations, and what "
    "the technicians' `dcs-provision` records (enrolments, rotations, decommissioning). "
    "Authenticate with `Authorization: Bearer <token>` (tokens: `dcs-server api-token create`). "
    "Errors are JSON: `{code, status, message, errors?}`. No personal data is ever returned."
)


def init_app(app: Flask) -> None:
    """Register the API blueprints, the OpenAPI document and ``/metrics`` on ``app``."""
    from flask_wtf.csrf import CSRFProtect

    from sync_server import metrics
    from sync_server.api import (
        docs_page,
        health,
        ingest,
        maintenance,
        notices,
        petitions,
        provisioning,
        rollouts,
        stations,
        token_info,
    )
    from sync_server.api.auth import SECURITY_SCHEME
    from sync_server.api.errors import ScopedErrorsApi

    app.config.setdefault("API_TITLE", "Digital Citizen Station API")
    app.config.setdefault("API_VERSION", "1")
    app.config.setdefault("OPENAPI_VERSION", "3.0.3")
    app.config.setdefault("OPENAPI_URL_PREFIX", "/api/v1")
    app.config.setdefault("OPENAPI_JSON_PATH", "openapi.json")
    api = ScopedErrorsApi(app, spec_kwargs={"info": {"description": API_DESCRIPTION}})
    api.spec.components.security_scheme(
        SECURITY_SCHEME,
        {"type": "http", "scheme": "bearer", "description": "a token from `dcs-server api-token`"},
    )
    blueprints = (
        health.blp,
        token_info.blp,
        petitions.blp,
        stations.blp,
        provisioning.blp,
        ingest.blp,
        maintenance.blp,
        rollouts.blp,
        notices.blp,
    )
    for blueprint in blueprints:
        api.register_blueprint(blueprint)
    metrics.init_app(app)
    app.register_blueprint(docs_page.bp)

    @app.after_request
    def _no_store(response):  # what a token reads is for that integration, not for caches
        if request.path.startswith(("/api/", "/metrics")):
            response.headers.setdefault("Cache-Control", "no-store")
        return response

    # Bearer tokens, no cookies: a browser cannot be tricked into sending them, so CSRF
    # tokens would only get in an integration's way.
    csrf = app.extensions.get("csrf") or CSRFProtect(app)
    for blueprint in (*blueprints, metrics.bp):
        csrf.exempt(blueprint)
