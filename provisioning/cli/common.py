"""Options and helpers the command groups share."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from provisioning.pki import CertificateAuthority, PkiError
from provisioning.server_api import ServerApi, ServerApiError

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


def server_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """``--server-url``, ``--token`` and ``--server-ca``: where the server is, and the API token."""
    command = click.option(
        "--server-ca",
        type=click.Path(exists=True, dir_okay=False, path_type=Path),
        envvar="DCS_SERVER_CA",
        show_envvar=True,
        help="CA certificate to verify an https server with (else the system's).",
    )(command)
    command = click.option(
        "--token",
        envvar="DCS_API_TOKEN",
        show_envvar=True,
        help="API token with the scopes stations:enroll and stations:command "
        "(prefer the environment variable: a command line is visible to other users).",
    )(command)
    return click.option(
        "--server-url",
        envvar="DCS_SERVER_URL",
        show_envvar=True,
        help="The central server, e.g. https://dcs.example.org; records the step there.",
    )(command)


def connect(
    server_url: str | None, token: str | None, server_ca: Path | None, *scopes: str
) -> ServerApi | None:
    """The server's API once the token is checked for ``scopes``; ``None`` without a URL."""
    if not server_url:
        if token:
            raise click.UsageError("--token needs --server-url (or DCS_SERVER_URL)")
        return None
    if not token:
        raise click.UsageError("--server-url needs --token (or DCS_API_TOKEN)")
    try:
        api = ServerApi(server_url, token, ca_file=server_ca)
        if api.sends_token_in_clear:
            click.echo(f"warning: {api.url} is plain http; the token crosses the network", err=True)
        api.check_token(*scopes)
    except ServerApiError as exc:
        raise click.ClickException(str(exc)) from None
    return api
