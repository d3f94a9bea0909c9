"""Bearer tokens for the integrations that call the REST API and scrape the metrics.

A token is shown once, when it is created; the server keeps only its SHA-256 (a token is 256
random bits, so a fast hash is enough — unlike a password, it cannot be guessed from a
dictionary). Each token carries scopes; revoking one keeps its row for the audit trail.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sync_server.api.models import ApiToken
from sync_server.api.scopes import SCOPES
from sync_server.audit import audit
from sync_server.db import database, utc_now, write_transaction

TOKEN_PREFIX = "dcs_"  # noqa: S105 - a marker that makes leaked tokens easy to scan for
#: ``last_used_at`` is written at most this often per token, so reads stay reads.
LAST_USED_RESOLUTION = timedelta(minutes=1)


class TokenError(ValueError):
    """A token cannot be created or revoked as asked."""


@dataclass(frozen=True)
class IssuedToken:
    """A new token: the secret (shown once) and its row."""

    secret: str
    record: ApiToken


def hash_token(secret: str) -> str:
    """The stored form of a token."""
    return hashlib.sha256(secret.encode()).hexdigest()


def create_token(name: str, scopes: list[str] | tuple[str, ...], *, actor: str) -> IssuedToken:
    """Mint a token for ``name`` with ``scopes`` and audit it."""
    name = name.strip()
    if not name or len(name) > 64:
        raise TokenError("a token needs a name of 1 to 64 characters")
    unknown = sorted(set(scopes) - set(SCOPES))
    if unknown or not scopes:
        raise TokenError(f"scopes must be among {', '.join(SCOPES)} (got {', '.join(unknown)})")
    secret = TOKEN_PREFIX + secrets.token_urlsafe(32)
    with write_transaction(database.obj):
        record = ApiToken.create(
            name=name,
            token_hash=hash_token(secret),
            hint=secret[: len(TOKEN_PREFIX) + 4],
            scopes=" ".join(sorted(set(scopes))),
        )
        audit(actor, "api_token.create", f"token:{record.id}", "ok")
    return IssuedToken(secret, record)


def revoke_tokens(id_or_name: str, *, actor: str) -> list[ApiToken]:
    """Revoke the token with this id, or every live token with this name; audit each."""
    query = ApiToken.select().where(ApiToken.revoked_at.is_null())
    if id_or_name.isdigit():
        query = query.where(ApiToken.id == int(id_or_name))
    else:
        query = query.where(ApiToken.name == id_or_name)
    with write_transaction(database.obj):
        revoked = list(query)
        if not revoked:
            raise TokenError(f"no live token with id or name {id_or_name!r}")
        now = utc_now()
        for record in revoked:
            record.revoked_at = now
            record.save()
            audit(actor, "api_token.revoke", f"token:{record.id}", "ok")
    return revoked


def list_tokens() -> list[ApiToken]:
    """Every token, live and revoked, oldest first."""
    return list(ApiToken.select().order_by(ApiToken.id))


def find_live_token(secret: str, *, now: datetime | None = None) -> ApiToken | None:
    """The live token whose secret this is, with ``last_used_at`` brought up to date."""
    if not secret.startswith(TOKEN_PREFIX):
        return None
    record = ApiToken.get_or_none(
        (ApiToken.token_hash == hash_token(secret)) & ApiToken.revoked_at.is_null()
    )
    if record is None:
        return None
    now = now or utc_now()
    last = record.last_used_at
    if last is not None and last.tzinfo is None:  # SQLite hands back naive UTC
        last = last.replace(tzinfo=now.tzinfo)
    if last is None or now - last >= LAST_USED_RESOLUTION:
        ApiToken.update(last_used_at=now).where(ApiToken.id == record.id).execute()
        record.last_used_at = now
    return record
