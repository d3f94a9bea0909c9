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
_outcome = click.option(
    "--outcome",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Also write how it ended as JSON here (the update agent reads it).",
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


def _write_outcome(path: Path | None, state: str, reason: str | None) -> None:
    """How the step ended, for the update agent (device/update/agent.py)."""
    if path is not None:
        from device.update.handoff import Outcome, write_outcome

        write_outcome(path, Outcome(state=state, reason=reason))


@click.group()
def update() -> None:
    """Install, roll back and inspect software releases on this station."""


@update.command()
@_config
@_root
@_unsigned
@_services
@_deadline
@_outcome
@click.argument("artifact", type=click.Path(exists=True, dir_okay=False, path_type=Path))
def install(
    config_path: Path,
    root: Path,
    unsigned_config: bool,
    services: str,
    deadline: float,
    outcome: Path | None,
    artifact: Path,
) -> None:
    """Verify ARTIFACT, install it beside the running release, switch, check, commit."""
    try:
        journal = _installer(config_path, root, unsigned_config, services, deadline).install(
            artifact
        )
    except (UpdateError, StationError, ReleaseError) as exc:
        _write_outcome(outcome, "failed", str(exc))
        raise click.ClickException(str(exc)) from None
    _write_outcome(outcome, journal.state, journal.reason)
    _report(journal)
    if journal.state != "committed":
        raise SystemExit(1)


@update.command()
@_config
@_root
@_unsigned
@_services
@_outcome
@click.option("--reason", default="rolled back by hand", show_default=True)
def rollback(
    config_path: Path,
    root: Path,
    unsigned_config: bool,
    services: str,
    outcome: Path | None,
    reason: str,
) -> None:
    """Go back to the release installed before the current one."""
    try:
        journal = _installer(config_path, root, unsigned_config, services, 0).rollback(reason)
    except (UpdateError, StationError) as exc:
        _write_outcome(outcome, "failed", str(exc))
        raise click.ClickException(str(exc)) from None
    _write_outcome(outcome, journal.state, journal.reason)
    _report(journal)


@update.command()
@_config
@_root
@_unsigned
@_services
@_deadline
@_outcome
@click.option("--job-id", default=None, help="The config job this change comes from.")
@click.argument("change_file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
def configure(
    config_path: Path,
    root: Path,
    unsigned_config: bool,
    services: str,
    deadline: float,
    outcome: Path | None,
    job_id: str | None,
    change_file: Path,
) -> None:
    """Apply CHANGE_FILE (allowlisted settings, JSON), restart, check; commit or restore."""
    import msgspec

    from contract.rollout import ConfigChange
    from device.update.configure import ConfigUpdater

    try:
        change = msgspec.json.decode(change_file.read_bytes(), type=ConfigChange)
        config = _load(config_path, unsigned_config)
        installer = _installer(config_path, root, unsigned_config, services, deadline)
        journal = ConfigUpdater(installer, Path(config.data_dir)).apply(change, job_id)
    except (UpdateError, StationError, ValueError) as exc:
        _write_outcome(outcome, "failed", str(exc))
        raise click.ClickException(str(exc)) from None
    _write_outcome(outcome, journal.state, journal.reason)
    click.echo(
        f"config {journal.label}: {journal.state}"
        + (f" ({journal.reason})" if journal.reason else "")
    )
    if journal.state != "committed":
        raise SystemExit(1)


@update.command()
@_config
@_root
@_unsigned
@_services
@_outcome
@click.option("--job-id", required=True, help="The config job whose change is undone.")
@click.option("--reason", default="rolled back by hand", show_default=True)
def unconfigure(
    config_path: Path,
    root: Path,
    unsigned_config: bool,
    services: str,
    outcome: Path | None,
    job_id: str,
    reason: str,
) -> None:
    """Restore the settings in force before the configuration change of JOB_ID."""
    from device.update.configure import ConfigUpdater

    try:
        config = _load(config_path, unsigned_config)
        installer = _installer(config_path, root, unsigned_config, services, 0)
        journal = ConfigUpdater(installer, Path(config.data_dir)).revert(job_id, reason)
    except (UpdateError, StationError) as exc:
        _write_outcome(outcome, "failed", str(exc))
        raise click.ClickException(str(exc)) from None
    _write_outcome(outcome, journal.state, journal.reason)
    click.echo(f"config {journal.label}: {journal.state}")


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
    from device.update.configure import ConfigUpdater

    try:
        installer = _installer(config_path, root, unsigned_config, services, deadline)
        journal = installer.resume()
        config = _load(config_path, unsigned_config)
        changed = ConfigUpdater(installer, Path(config.data_dir)).resume()
    except (UpdateError, StationError) as exc:
        raise click.ClickException(str(exc)) from None
    click.echo("no update to resume" if journal is None else f"{journal.version}: {journal.state}")
    if changed is not None:
        click.echo(f"config {changed.label}: {changed.state}")


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
