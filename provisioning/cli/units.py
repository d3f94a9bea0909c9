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
@click.option(
    "--ca-dir",
    default=unit_files.Layout.ca_dir,
    show_default=True,
    help="server: the CA copy the daily CRL refresh signs with (no root key in it).",
)
@click.option(
    "--broker-dir",
    default=unit_files.Layout.broker_dir,
    show_default=True,
    help="server: the broker's directory (`broker config --out`) whose crl.pem it replaces.",
)
def install(
    role: str, root: Path, prefix: str, kiosk_url: str, ca_dir: str, broker_dir: str
) -> None:
    """Write the units (and reload systemd when installing on this machine's root)."""
    console = Console()
    layout = unit_files.Layout(
        prefix=prefix, kiosk_url=kiosk_url, ca_dir=ca_dir, broker_dir=broker_dir
    )
    try:
        written = unit_files.install(role, root, layout)
    except OSError as exc:
        raise click.ClickException(f"cannot write the units: {exc}") from None
    for path in written:
        console.print(f"wrote {path}")
    for command in unit_files.enable_commands(role, layout):
        console.print("then: " + " ".join(command), soft_wrap=True)
