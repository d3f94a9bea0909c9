"""``dcs-provision harden``: the station's firewall and SSH policy."""

from __future__ import annotations

from pathlib import Path

import click
from rich.console import Console

from provisioning import harden as hardening


@click.command()
@click.option(
    "--root",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("/"),
    show_default=True,
    help="Write under this directory (a mounted SD card, or a test directory).",
)
@click.option("--broker-port", default=8883, show_default=True, help="MQTT over TLS.")
def harden(root: Path, broker_port: int) -> None:
    """Write the nftables policy (only MQTT-TLS out, SSH in) and the SSH key-only policy."""
    try:
        written = hardening.apply(root, broker_port)
    except OSError as exc:
        raise click.ClickException(f"cannot write the policy: {exc}") from None
    console = Console()
    for path in written:
        console.print(f"wrote {path}")
    console.print("then: nft -f /etc/nftables.d/dcs-station.nft && systemctl reload ssh")
