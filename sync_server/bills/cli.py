"""``dcs-server fees import FILE``: a building's management fees for one month, from the
same CSV file the building manager uploads on the fees page (docs/bills.md)."""

from __future__ import annotations

from pathlib import Path

import click

from sync_server.config import ServerConfigError
from sync_server.db import database


@click.group("fees")
def fees_cli() -> None:
    """The building management fees (our own biller)."""


@fees_cli.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--building", required=True, help="The building's code, e.g. building-1.")
@click.option("--period", required=True, help="The month billed, YYYY-MM.")
@click.option("--actor", default="cli", show_default=True, help="Who the audit trail names.")
def import_fees(file: Path, building: str, period: str, actor: str) -> None:
    """Set BUILDING's unpaid fees for PERIOD from FILE (``unit,citizen_id,amount``).

    The whole file is checked first: one wrong line and nothing is written. A fee already
    paid stays as it is.
    """
    from sync_server import create_app
    from sync_server.bills.config import deployment_currency
    from sync_server.bills.management import BUILDING, FeeFileError, parse_fee_file, set_fees

    try:
        app = create_app()
    except ServerConfigError as exc:
        raise click.ClickException(str(exc)) from None
    if not BUILDING.match(building):
        raise click.BadParameter("a building code like building-1", param_hint="--building")
    currency = deployment_currency(app.config)
    try:
        lines = parse_fee_file(file.read_bytes(), currency)
    except FeeFileError as exc:
        raise click.ClickException(f"{file} is not imported, nothing was written: {exc}") from None
    with database.connection_context():
        try:
            count = set_fees(building, period, lines, currency, actor)
        except ValueError as exc:
            raise click.BadParameter(str(exc), param_hint="--period") from None
    click.echo(f"{count} fee(s) set for {building} {period} in {currency}")
