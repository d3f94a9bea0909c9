"""``dcs-server records import FILE``: the master records from a residents file, in bulk."""

from __future__ import annotations

from pathlib import Path

import click

from sync_server.config import ServerConfigError
from sync_server.db import database


@click.group("records")
def records_cli() -> None:
    """The master records of the residents."""


@records_cli.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
def import_file(file: Path) -> None:
    """Add the residents of FILE (JSON Lines, docs/residents-file.md).

    The whole file is checked first: one wrong line and nothing is written. Residents already
    in the records are left as they are, so importing a file again adds nothing.
    """
    from sync_server import create_app
    from sync_server.records.residents_file import ResidentsFileError
    from sync_server.records.residents_import import import_residents

    try:
        create_app()
    except ServerConfigError as exc:
        raise click.ClickException(str(exc)) from None
    with database.connection_context():
        try:
            counts = import_residents(file)
        except ResidentsFileError as exc:
            message = f"{file} is not imported, nothing was written:\n{exc}"
            raise click.ClickException(message) from None
    click.echo(counts)
