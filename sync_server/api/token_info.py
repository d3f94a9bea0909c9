"""``/api/v1/token``: which token a request carries, so a client can check it before it acts."""

from __future__ import annotations

from flask_smorest import Blueprint

from sync_server.api.auth import current_token, documented_scope
from sync_server.api.errors import json_errors
from sync_server.api.schemas import TokenInfoSchema

blp = Blueprint("api_token_info", __name__, url_prefix="/api/v1", description="The caller's token")
json_errors(blp)  # JSON whatever handlers the pages add


@blp.get("/token")
@documented_scope(blp)
@blp.response(200, TokenInfoSchema)
def token_info() -> dict[str, object]:
    """The name and scopes of the token this request carries (no scope needed)."""
    token = current_token()
    assert token is not None  # documented_scope ran first
    return {"name": token.name, "scopes": sorted(token.scope_set)}
