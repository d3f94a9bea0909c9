"""``dcs-provision ca init``: the fleet's certificate authority."""

from __future__ import annotations

from pathlib import Path

import click
from rich.console import Console

from provisioning.cli.common import ca_dir_option, passphrase, passphrase_option
from provisioning.pki import CertificateAuthority, PkiError


@click.group()
def ca() -> None:
    """The fleet certificate authority."""


@ca.command("init")
@ca_dir_option
@passphrase_option
def init(ca_dir: Path, passphrase_file: Path | None) -> None:
    """Make the offline root and the issuing intermediate (keys encrypted with a passphrase)."""
    try:
        authority = CertificateAuthority.init(ca_dir, passphrase(passphrase_file, confirm=True))
    except PkiError as exc:
        raise click.ClickException(str(exc)) from None
    console = Console()
    console.print(f"CA created in {authority.directory}")
    console.print(f"root: {authority.root.subject.rfc4514_string()}")
    console.print(
        "install root.crt.pem on every station image as /etc/dcs/fleet-root.crt.pem; "
        "keep root.key.pem offline",
        soft_wrap=True,
    )
