"""Bearer tokens for tests that call the REST API."""

from __future__ import annotations

from sync_server.api.tokens import SCOPES, create_token
from sync_server.db import database

#: What dcs-provision's token carries.
PROVISIONING_SCOPES = ("stations:enroll", "stations:command")


def api_token(name: str, *scopes: str) -> str:
    """A new token for ``name`` with ``scopes`` in the bound server database: its secret."""
    with database.connection_context():
        return create_token(name, scopes, actor="tests").secret


def bearer(*scopes: str) -> dict[str, str]:
    """Headers with a new token (every scope unless named) in the bound server database."""
    return {"Authorization": f"Bearer {api_token('tests', *(scopes or tuple(SCOPES)))}"}
