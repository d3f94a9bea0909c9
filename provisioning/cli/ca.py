"""``dcs-provision ca init`` and ``ca crl refresh``: the fleet's certificate authority."""

from __future__ import annotations

from pathlib import Path

import click
from rich.console import Console

from provisioning.broker_reload import ReloadError, reload_broker
from provisioning.broker_tls import resign_crl
from provisioning.cli.common import ca_dir_option, open_ca, passphrase, passphrase_option
from provisioning.pki import CRL_DAYS, CertificateAuthority, PkiError


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


@ca.group("crl")
def crl() -> None:
    """The certificate revocation list the broker checks every client against."""


@crl.command("refresh")
@ca_dir_option
@passphrase_option
@click.option(
    "--broker-dir",
    type=click.Path(file_okay=False, exists=True, path_type=Path),
    required=True,
    help="The broker's directory (from `broker config --out`): its crl.pem is replaced.",
)
@click.option("--days", default=CRL_DAYS, show_default=True, help="Days until nextUpdate.")
@click.option(
    "--pid-file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Mosquitto's pid file: SIGHUP that process (checked to be mosquitto).",
)
@click.option(
    "--reload-command",
    help="Run this instead to reload the broker, e.g. 'systemctl reload mosquitto.service'.",
)
@click.option("--no-reload", is_flag=True, help="Only write the CRL (the broker reloads later).")
def crl_refresh(
    ca_dir: Path,
    passphrase_file: Path | None,
    broker_dir: Path,
    days: int,
    pid_file: Path | None,
    reload_command: str | None,
    no_reload: bool,
) -> None:
    """Re-sign the CRL with a fresh nextUpdate, install it for the broker, reload the broker.

    Mosquitto refuses every client once its CRL is past nextUpdate; the systemd timer from
    `units install --role server` runs this daily. Repeating it is harmless.
    """
    if days < 2:
        raise click.UsageError("--days must be at least 2 (the timer runs daily)")
    if not no_reload and not pid_file and not reload_command:
        raise click.UsageError("give --pid-file or --reload-command (or --no-reload)")
    authority = open_ca(ca_dir, passphrase_file)
    try:
        published = resign_crl(authority, broker_dir, days)
    except (PkiError, OSError) as exc:
        raise click.ClickException(f"the CRL was not refreshed: {exc}") from None
    console = Console()
    console.print(
        f"CRL #{published.number} re-signed: {published.revoked} revoked serial(s), "
        f"next update {published.next_update:%Y-%m-%d %H:%M} UTC",
        soft_wrap=True,
    )
    console.print(f"wrote {published.path}", soft_wrap=True)
    if no_reload:
        console.print("broker not reloaded (--no-reload)")
        return
    try:
        console.print(reload_broker(pid_file, reload_command), soft_wrap=True)
    except ReloadError as exc:
        raise click.ClickException(
            f"the CRL was written but the broker not reloaded: {exc}"
        ) from None
