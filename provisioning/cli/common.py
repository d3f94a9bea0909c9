"""Options and helpers the command groups share."""

from __future__ import annotations

import os
from pathlib import Path

import click

from provisioning.pki import CertificateAuthority, PkiError

ca_dir_option = click.option(
    "--ca",
    "ca_dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("fleet-ca"),
    show_default=True,
    envvar="DCS_CA_DIR",
    help="The CA directory (keep it on the technician's encrypted laptop, root offline).",
)
passphrase_option = click.option(
    "--passphrase-file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="File with the CA passphrase (else $DCS_CA_PASSPHRASE, else a prompt).",
)


def passphrase(path: Path | None, *, confirm: bool = False) -> bytes:
    """The CA passphrase from a file, the environment or the terminal."""
    if path is not None:
        return path.read_text().strip().encode()
    if os.environ.get("DCS_CA_PASSPHRASE"):
        return os.environ["DCS_CA_PASSPHRASE"].encode()
    return click.prompt(
        "CA passphrase", hide_input=True, confirmation_prompt=confirm, err=True
    ).encode()


def open_ca(ca_dir: Path, passphrase_file: Path | None) -> CertificateAuthority:
    """The CA, or a clear error."""
    try:
        return CertificateAuthority.open(ca_dir, passphrase(passphrase_file))
    except PkiError as exc:
        raise click.ClickException(str(exc)) from None
