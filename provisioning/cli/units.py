"""``dcs-provision units install``: the systemd units of a station or of the server."""

from __future__ import annotations

from pathlib import Path

import click
from rich.console import Console

from provisioning import units as unit_files


@click.group()
def units() -> None:
    """systemd units."""


@units.command("install")
@click.option("--role", type=click.Choice(["station", "server"]), required=True)
@click.option(
    "--root",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("/"),
    show_default=True,
    help="Install under this directory (a mounted SD card, or a test directory).",
)
@click.option("--prefix", default="/opt/dcs", show_default=True, help="Where the code lives.")
@click.option("--kiosk-url", default="http://127.0.0.1:8080/", show_default=True)
def install(role: str, root: Path, prefix: str, kiosk_url: str) -> None:
    """Write the units (and reload systemd when installing on this machine's root)."""
    console = Console()
    layout = unit_files.Layout(prefix=prefix, kiosk_url=kiosk_url)
    try:
        written = unit_files.install(role, root, layout)
    except OSError as exc:
        raise click.ClickException(f"cannot write the units: {exc}") from None
    for path in written:
        console.print(f"wrote {path}")
    for command in unit_files.enable_commands(role, layout):
        console.print("then: " + " ".join(command), soft_wrap=True)
