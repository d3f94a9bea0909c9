"""``dcs-station update install|rollback|status|resume`` (and ``supervise`` for tests/demo)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import click

from contract.release import ReleaseError, load_public_key
from device.config import StationConfig, load_config
from device.errors import StationError
from device.update.health_check import HealthCheck
from device.update.installer import Installer, UpdateError
from device.update.layout import DEFAULT_ROOT, Layout
from device.update.services import ServiceManager, Systemd
from device.update.supervisor import Supervised, Supervisor

_config = click.option(
    "--config",
    "config_path",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    envvar="DCS_STATION_CONFIG",
    required=True,
    help="The station's TOML config (or DCS_STATION_CONFIG).",
)
_root = click.option(
    "--root",
    type=click.Path(file_okay=False, path_type=Path),
    envvar="DCS_RELEASE_ROOT",
    default=str(DEFAULT_ROOT),
    show_default=True,
    help="Where releases live (or DCS_RELEASE_ROOT).",
)
_unsigned = click.option(
    "--unsigned-config", is_flag=True, help="Development and tests only: no signed bundle."
)
_services = click.option(
    "--services",
    type=click.Choice(["systemd", "supervisor"]),
    envvar="DCS_SERVICE_MANAGER",
    default="systemd",
    show_default=True,
    help="What restarts the units: systemd, or `update supervise` (tests, demo).",
)
_deadline = click.option(
    "--deadline",
    type=float,
    default=120.0,
    show_default=True,
    help="Seconds the new release has to prove healthy before it is rolled back.",
)


def _load(config_path: Path, unsigned: bool) -> StationConfig:
    if not unsigned:
        from device.bundle import require_signed_bundle

        require_signed_bundle(config_path)  # the release key is trusted only from the bundle
    return load_config(config_path)


def _installer(
    config_path: Path, root: Path, unsigned: bool, services: str, deadline: float
) -> Installer:
    config = _load(config_path, unsigned)
    manager: ServiceManager = Supervised(root) if services == "supervisor" else Systemd()
    key = config.release_public_key
    return Installer(
        Layout(root),
        manager,
        HealthCheck(manager, Path(config.data_dir), deadline_s=deadline),
        load_public_key(key) if key else None,  # none: every release is refused
        python=os.environ.get("DCS_RELEASE_PYTHON"),
    )


def _report(journal) -> None:
    click.echo(
        f"{journal.version}: {journal.state}" + (f" ({journal.reason})" if journal.reason else "")
    )


@click.group()
def update() -> None:
    """Install, roll back and inspect software releases on this station."""


@update.command()
@_config
@_root
@_unsigned
@_services
@_deadline
@click.argument("artifact", type=click.Path(exists=True, dir_okay=False, path_type=Path))
def install(
    config_path: Path,
    root: Path,
    unsigned_config: bool,
    services: str,
    deadline: float,
    artifact: Path,
) -> None:
    """Verify ARTIFACT, install it beside the running release, switch, check, commit."""
    try:
        journal = _installer(config_path, root, unsigned_config, services, deadline).install(
            artifact
        )
    except (UpdateError, StationError, ReleaseError) as exc:
        raise click.ClickException(str(exc)) from None
    _report(journal)
    if journal.state != "committed":
        raise SystemExit(1)


@update.command()
@_config
@_root
@_unsigned
@_services
def rollback(config_path: Path, root: Path, unsigned_config: bool, services: str) -> None:
    """Go back to the release installed before the current one."""
    try:
        journal = _installer(config_path, root, unsigned_config, services, 0).rollback()
    except (UpdateError, StationError) as exc:
        raise click.ClickException(str(exc)) from None
    _report(journal)


@update.command()
@_config
@_root
@_unsigned
@_services
@_deadline
def resume(
    config_path: Path, root: Path, unsigned_config: bool, services: str, deadline: float
) -> None:
    """At boot: finish or undo an update a power cut interrupted."""
    try:
        journal = _installer(config_path, root, unsigned_config, services, deadline).resume()
    except (UpdateError, StationError) as exc:
        raise click.ClickException(str(exc)) from None
    click.echo("no update to resume" if journal is None else f"{journal.version}: {journal.state}")


@update.command()
@_root
def status(root: Path) -> None:
    """The running release, the installed ones and how the last update ended (JSON)."""
    from device.update.journal import read_journal

    layout = Layout(root)
    journal = read_journal(layout.journal)
    click.echo(
        json.dumps(
            {
                "current": layout.current_version(),
                "installed": layout.installed(),
                "last_update": None
                if journal is None
                else {
                    "version": journal.version,
                    "state": journal.state,
                    "previous": journal.previous,
                    "reason": journal.reason,
                    "history": [
                        {"state": s.state, "at": s.at.isoformat(), "detail": s.detail}
                        for s in journal.history
                    ],
                },
            },
            indent=2,
        )
    )


@update.command()
@_root
@click.argument("daemon_args", nargs=-1, type=click.UNPROCESSED)
def supervise(root: Path, daemon_args: tuple[str, ...]) -> None:
    """Run `<root>/current`'s daemon under a small supervisor (tests and the demo)."""
    Supervisor(root, list(daemon_args)).run()
