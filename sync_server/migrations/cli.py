"""``dcs-server db``: upgrade the schema, show where it is, write a new step."""

from __future__ import annotations

import click

from sync_server import migrations
from sync_server.config import ServerConfigError


def _database():  # type: ignore[no-untyped-def]
    from sync_server import create_app
    from sync_server.db import database

    try:
        create_app(check_schema=False)
    except ServerConfigError as exc:
        raise click.ClickException(str(exc)) from None
    return database.obj


@click.group("db")
def db_cli() -> None:
    """The database schema: migrations (run `upgrade` before starting a new release)."""


@db_cli.command("upgrade")
def upgrade() -> None:
    """Apply every pending migration, each in its own transaction."""
    db = _database()
    try:
        applied = migrations.upgrade(db)
    except Exception as exc:  # the step's transaction rolled back; say which and why
        raise click.ClickException(f"migration failed, nothing of it was kept: {exc}") from exc
    for name in applied:
        click.echo(f"applied {name}")
    with db.connection_context():
        head = migrations.applied_steps(db)[-1].name
    click.echo(f"database at {head}" + ("" if applied else " (nothing to do)"))


@db_cli.command("current")
def current() -> None:
    """Print the last migration applied and whether any is pending (exit 1 if so)."""
    db = _database()
    with db.connection_context():
        applied = migrations.applied_steps(db)
        pending = migrations.pending_steps(db)
    click.echo(applied[-1].name if applied else "empty (no migration applied)")
    if pending:
        click.echo(f"pending: {', '.join(pending)}", err=True)
        raise SystemExit(1)


@db_cli.command("history")
def history() -> None:
    """List every migration: applied (with when) or pending."""
    db = _database()
    with db.connection_context():
        applied = {step.name: step.applied_at for step in migrations.applied_steps(db)}
    for name in migrations.known_steps():
        at = applied.get(name)
        click.echo(f"{name}  {at.isoformat(timespec='seconds') if at else 'pending'}")


@db_cli.command("new")
@click.argument("name")
def new(name: str) -> None:
    """Write the next numbered step from the difference between the models and the steps.

    Run it against an up-to-date development database; read and test the file it writes.
    """
    db = _database()
    written = migrations.create_step(db, name)
    if written is None:
        raise click.ClickException("the models match the migrations: nothing to write")
    click.echo(f"wrote sync_server/migrations/{written}.py")
