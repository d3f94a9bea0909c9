"""The API's table: integration tokens."""

from __future__ import annotations

import peewee

from sync_server.db import BaseModel, utc_now


class ApiToken(BaseModel):
    """One integration's token: its hash, who it is for, what it may read."""

    id = peewee.AutoField()
    name = peewee.CharField(max_length=64, index=True)
    token_hash = peewee.CharField(max_length=64, unique=True)
    #: The first characters of the token, so a person can tell tokens apart in a list.
    hint = peewee.CharField(max_length=16)
    scopes = peewee.CharField(max_length=255)  # space-separated, as in OAuth
    created_at = peewee.DateTimeField(default=utc_now)
    last_used_at = peewee.DateTimeField(null=True)
    revoked_at = peewee.DateTimeField(null=True)

    @property
    def scope_set(self) -> frozenset[str]:
        """The scopes as a set."""
        return frozenset(self.scopes.split())


MODELS = [ApiToken]
