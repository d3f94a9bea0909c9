"""``dcs-server rollouts``: upload a release, create, list and abort rollouts, run the worker."""

from __future__ import annotations

import signal
import threading
from datetime import timedelta
from pathlib import Path

import click

from sync_server.db import database, utc_now


def _app():
    from sync_server import create_app
    from sync_server.config import ServerConfigError

    try:
        return create_app()
    except ServerConfigError as exc:
        raise click.ClickException(str(exc)) from None


def parse_target(text: str):
    """``all``, ``buildings:a,b``, ``percent:10`` or ``stations:st-a,st-b``."""
    from sync_server.rollouts.targets import Target, TargetError

    kind, _, rest = text.partition(":")
    values = [value.strip() for value in rest.split(",") if value.strip()]
    data: dict[str, object] = {"kind": kind}
    if kind == "percent":
        data["percent"] = float(rest or 0)
    elif kind in ("buildings", "stations"):
        data[kind] = values
    try:
        return Target.from_json(data)
    except (TargetError, ValueError) as exc:
        raise click.BadParameter(str(exc)) from None


def parse_settings(pairs: tuple[str, ...]) -> dict[str, object]:
    """``key=value`` pairs; values are JSON where they parse (numbers, true/false)."""
    import json

    settings: dict[str, object] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep:
            raise click.BadParameter(f"{pair!r} is not key=value")
        try:
            settings[key] = json.loads(value)
        except ValueError:
            settings[key] = value
    return settings


@click.group("rollouts")
def rollouts_cli() -> None:
    """Releases and staged rollouts (docs/updates.md)."""


@rollouts_cli.command("run")
def run() -> None:
    """Run the rollout worker until SIGTERM or Ctrl-C."""
    from sync_server.config import broker_settings
    from sync_server.replicas.keys import load_or_create_signing_key, signing_key_path
    from sync_server.rollouts import releases_dir
    from sync_server.rollouts.worker import RolloutWorker

    app = _app()
    config = app.config
    worker = RolloutWorker(
        database.obj,
        broker_settings(config),
        load_or_create_signing_key(signing_key_path(config, app.instance_path)),
        releases_dir(config, app.instance_path),
        tick_s=float(config["ROLLOUT_TICK_S"]),
        resend_after=timedelta(seconds=float(config["ROLLOUT_RESEND_S"])),
        bytes_factor=float(config["FILE_BYTES_FACTOR"]),
    )
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    with worker:
        click.echo("rollout worker running", err=True)
        stop.wait()
    click.echo("rollout worker stopped", err=True)


@rollouts_cli.command("upload")
@click.argument("artifact", type=click.Path(exists=True, path_type=Path))
@click.option("--by", default="cli", show_default=True, help="Who uploads (audit trail).")
def upload(artifact: Path, by: str) -> None:
    """Verify a release artifact (its directory or its tar) with the release key; register it."""
    from sync_server.rollouts import releases, releases_dir
    from sync_server.rollouts.manifest import ManifestError, release_public_key
    from sync_server.rollouts.store import FileStore

    app = _app()
    key_text = app.config.get("RELEASE_PUBLIC_KEY")
    if not key_text:
        raise click.ClickException("RELEASE_PUBLIC_KEY is not set in the server config")
    with app.app_context(), database.connection_context():
        try:
            release = releases.upload(
                artifact,
                public_key=release_public_key(key_text),
                store=FileStore(releases_dir(app.config, app.instance_path)),
                actor=by,
            )
        except (releases.ReleaseError, ManifestError) as exc:
            raise click.ClickException(str(exc)) from None
    click.echo(f"release {release.version} registered ({release.total_bytes} bytes)")


@rollouts_cli.command("create")
@click.option("--release", "version", help="The release version to roll out.")
@click.option("--config-label", help="A configuration change: its label...")
@click.option("--set", "pairs", multiple=True, help="...and its settings, key=value.")
@click.option(
    "--target",
    default="all",
    show_default=True,
    help="all | buildings:a,b | percent:N | stations:a,b",
)
@click.option("--waves", default="1,10", show_default=True, help="Wave sizes; the last repeats.")
@click.option("--success", default=100.0, show_default=True, help="% committed for a wave to pass.")
@click.option("--abort", "abort_pct", default=0.0, show_default=True, help="% failed that aborts.")
@click.option("--min-executed", default=1, show_default=True)
@click.option("--deadline-hours", type=float, help="Default: ROLLOUT_DEADLINE_H.")
@click.option("--by", default="cli", show_default=True)
def create(
    version,
    config_label,
    pairs,
    target,
    waves,
    success,
    abort_pct,
    min_executed,
    deadline_hours,
    by,
) -> None:
    """Create a rollout of a release or of a configuration change."""
    from sync_server.rollouts import releases, service

    app = _app()
    try:
        sizes = [int(size) for size in waves.split(",")]
    except ValueError:
        raise click.BadParameter("wave sizes are whole numbers") from None
    hours = deadline_hours or float(app.config["ROLLOUT_DEADLINE_H"])
    plan = service.Plan(
        target=parse_target(target),
        wave_sizes=sizes,
        deadline=utc_now() + timedelta(hours=hours),
        success_pct=success,
        abort_pct=abort_pct,
        min_executed=min_executed,
    )
    with app.app_context(), database.connection_context():
        release = None
        if version:
            release = releases.by_version(version)
            if release is None:
                raise click.ClickException(f"no release {version}: upload it first")
        config = (config_label, parse_settings(pairs)) if config_label else None
        try:
            rollout = service.create(plan, actor=by, now=utc_now(), release=release, config=config)
        except service.RolloutError as exc:
            raise click.ClickException(str(exc)) from None
    click.echo(f"rollout {rollout.rollout_id} created")


@rollouts_cli.command("abort")
@click.argument("rollout_id")
@click.option("--reason", default="aborted by an operator", show_default=True)
@click.option("--by", default="cli", show_default=True)
def abort(rollout_id: str, reason: str, by: str) -> None:
    """Abort a running rollout and roll back its running wave."""
    from sync_server.rollouts import service

    app = _app()
    with app.app_context(), database.connection_context():
        if not service.abort(rollout_id, actor=by, reason=reason, now=utc_now()):
            raise click.ClickException(f"no running rollout {rollout_id}")
    click.echo(f"rollout {rollout_id} aborted; the worker sends the rollbacks")


@rollouts_cli.command("list")
def list_rollouts() -> None:
    """Every rollout with its state and figures."""
    from sync_server.rollouts import service
    from sync_server.rollouts.models import Rollout

    app = _app()
    with app.app_context(), database.connection_context():
        for rollout in Rollout.select().order_by(Rollout.created_at.desc()):
            figures = service.summary(rollout)
            what = rollout.release.version if rollout.release_id else "config"
            click.echo(
                f"{rollout.rollout_id}  {rollout.state:9}  {what:12}  "
                f"{figures['committed']}/{figures['stations']} committed, "
                f"{figures['failed']} failed"
            )
