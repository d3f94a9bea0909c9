"""Bearer tokens for tests that call the REST API."""

from __future__ import annotations

from sync_server.api.tokens import SCOPES, create_token
from sync_server.db import database


def bearer(*scopes: str) -> dict[str, str]:
    """Headers with a new token (every scope unless named) in the bound server database."""
    with database.connection_context():
        issued = create_token("tests", scopes or tuple(SCOPES), actor="tests")
    return {"Authorization": f"Bearer {issued.secret}"}
