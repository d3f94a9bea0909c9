"""``dcs-server operator ...``: accounts from the command line (the first administrator)."""

from __future__ import annotations

import sys
import threading

import click

from sync_server.db import database
from sync_server.operators import sessions
from sync_server.operators.models import ROLES, Operator
from sync_server.operators.policy import password_problems


def _app():  # type: ignore[no-untyped-def]
    from sync_server import ServerConfigError, create_app

    try:
        return create_app()
    except ServerConfigError as exc:
        raise click.ClickException(str(exc)) from None


@click.group("operator")
def operator_cli() -> None:
    """Operator accounts: create, list, unlock, and the abandoned-session sweeper."""


@operator_cli.command("create")
@click.argument("username")
@click.option("--role", type=click.Choice(ROLES), required=True)
@click.option(
    "--password-stdin",
    is_flag=True,
    help="Read the initial password from stdin (else one is generated and printed once).",
)
def create(username: str, role: str, password_stdin: bool) -> None:
    """Create an account; its password must be changed at first login."""
    from sync_server.records.passwords import temporary_password

    app = _app()
    if password_stdin:
        password = sys.stdin.readline().rstrip("\n")
        if problems := password_problems(password, username=username):
            raise click.ClickException("; ".join(message for _, message in problems))
    else:
        password = temporary_password(12) + "#"
    with app.app_context(), database.connection_context():
        try:
            sessions.create_operator(username, password, role, created_by="cli")
        except sessions.OperatorError as exc:
            raise click.ClickException(str(exc)) from None
    if not password_stdin:
        click.echo(password)  # the one time it is shown
    click.echo(
        f"{username} ({role}) created; the password must be changed at first login", err=True
    )


@operator_cli.command("list")
def list_operators() -> None:
    """Username, role and lock state of every account."""
    app = _app()
    with app.app_context(), database.connection_context():
        for operator in Operator.select().order_by(Operator.username):
            state = f"locked ({operator.locked_reason})" if operator.locked else "active"
            click.echo(f"{operator.username:24} {operator.role:14} {state}")


@operator_cli.command("unlock")
@click.argument("username")
def unlock(username: str) -> None:
    """Unlock an account locked by an abandoned session or an administrator."""
    app = _app()
    with app.app_context(), database.connection_context():
        try:
            sessions.unlock(username, by="cli")
        except sessions.OperatorError as exc:
            raise click.ClickException(str(exc)) from None
    click.echo(f"{username} unlocked")


@operator_cli.command("sweep")
@click.option("--every", default=15.0, show_default=True, help="Seconds between sweeps.")
@click.option("--once", is_flag=True, help="One sweep, then exit.")
def sweep(every: float, once: bool) -> None:
    """Lock the accounts whose sessions stopped without a logout."""
    import signal

    app = _app()
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    with app.app_context():
        while True:
            with database.connection_context():
                for username in sessions.lock_abandoned():
                    click.echo(f"locked {username}: session ended without logout", err=True)
            if once or stop.wait(every):
                break
