"""``dcs-server api-token create|list|revoke``: the integrations' bearer tokens."""

from __future__ import annotations

import click
from rich.console import Console
from rich.table import Table

from sync_server.api.scopes import SCOPES
from sync_server.config import ServerConfigError
from sync_server.db import database


def _open_database() -> None:
    from sync_server import create_app

    try:
        create_app()
    except ServerConfigError as exc:
        raise click.ClickException(str(exc)) from None


@click.group("api-token")
def api_token() -> None:
    """Bearer tokens for the REST API and /metrics."""


@api_token.command("create")
@click.option("--name", required=True, help="Who the token is for, e.g. 'prometheus'.")
@click.option(
    "--scope",
    "scopes",
    multiple=True,
    required=True,
    type=click.Choice([*SCOPES, "all"]),
    help="What it may read (repeat the option); 'all' for every scope.",
)
def create(name: str, scopes: tuple[str, ...]) -> None:
    """Create a token and print it once on stdout (only its hash is kept)."""
    from sync_server.api.tokens import TokenError, create_token

    _open_database()
    wanted = tuple(SCOPES) if "all" in scopes else scopes
    with database.connection_context():
        try:
            issued = create_token(name, wanted, actor="cli")
        except TokenError as exc:
            raise click.ClickException(str(exc)) from None
    click.echo(
        f"token {issued.record.id} for {name} ({issued.record.scopes}); shown only now:", err=True
    )
    click.echo(issued.secret)


@api_token.command("list")
def list_command() -> None:
    """Every token: id, name, scopes, created, last used, revoked (never the token)."""
    from sync_server.api.tokens import list_tokens

    _open_database()
    with database.connection_context():
        tokens = list_tokens()
    table = Table("id", "name", "starts with", "scopes", "created", "last used", "revoked")
    for token in tokens:
        table.add_row(
            str(token.id),
            token.name,
            token.hint + "…",
            token.scopes,
            _when(token.created_at),
            _when(token.last_used_at),
            _when(token.revoked_at),
        )
    Console().print(table)


@api_token.command("revoke")
@click.argument("id_or_name")
def revoke(id_or_name: str) -> None:
    """Revoke the token with this id, or every live token with this name."""
    from sync_server.api.tokens import TokenError, revoke_tokens

    _open_database()
    with database.connection_context():
        try:
            revoked = revoke_tokens(id_or_name, actor="cli")
        except TokenError as exc:
            raise click.ClickException(str(exc)) from None
    for token in revoked:
        click.echo(f"revoked token {token.id} ({token.name})")


def _when(value: object) -> str:
    return value.strftime("%Y-%m-%d %H:%M UTC") if value is not None else "-"
