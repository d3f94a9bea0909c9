"""``dcs-station``: run the station daemon and act on a station's store from a shell."""

from __future__ import annotations

import json
import logging
import signal
import threading
from datetime import UTC, datetime
from pathlib import Path

import click
from rich.console import Console
from rich.table import Table

from contract import ContractError
from contract.identifiers import InvalidThaiMobileError, normalize_thai_mobile
from device.browser.cli import browser
from device.config import load_config
from device.errors import StationError
from device.health import trial_selftest
from device.station import build_station
from device.update.cli import update
from hardware.exc import HardwareError

config_option = click.option(
    "--config",
    "config_path",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    envvar="DCS_STATION_CONFIG",
    required=True,
    help="The station's TOML config (or DCS_STATION_CONFIG).",
)


def _fail(exc: Exception) -> click.ClickException:
    return click.ClickException(str(exc))


@click.group()
@click.option("-v", "--verbose", is_flag=True, help="Log at INFO level.")
def main(verbose: bool) -> None:
    """A digital citizen station."""
    from device import logs

    logs.setup(logging.INFO if verbose else logging.WARNING)  # JSON lines, no personal data


@main.command()
@config_option
@click.option(
    "--unsigned-config",
    is_flag=True,
    help="Development and tests only: run a config that is not a signed bundle.",
)
@click.option(
    "--release-root",
    type=click.Path(file_okay=False, path_type=Path),
    envvar="DCS_RELEASE_ROOT",
    default="/opt/dcs",
    show_default=True,
    help="Where releases live, for update jobs (or DCS_RELEASE_ROOT).",
)
@click.option(
    "--services",
    type=click.Choice(["systemd", "supervisor"]),
    envvar="DCS_SERVICE_MANAGER",
    default="systemd",
    show_default=True,
    help="What restarts the units during an update (or DCS_SERVICE_MANAGER).",
)
def run(config_path: Path, unsigned_config: bool, release_root: Path, services: str) -> None:
    """Run the station daemon (sync agent and the fitted devices) until SIGTERM or Ctrl-C.

    The config must sit in a bundle signed by the fleet CA (verified against the image's
    fleet root, DCS_FLEET_ROOT); without its manifest the daemon does not start. Update
    jobs from the server are handled while it runs (device/update/agent.py).
    """
    from device.health import start_report
    from device.update.agent import UpdateOptions

    started_at = datetime.now(UTC)
    try:
        if not unsigned_config:
            from device.bundle import require_signed_bundle

            require_signed_bundle(config_path)  # fail closed: no manifest, no start
        config = load_config(config_path)
        # The first start of a new release checks its devices before holding them.
        selftest = trial_selftest(config)
        from device.logfile import attach_log_file

        # What a diagnostics bundle sends the tail of, at INFO whatever -v says for stderr.
        root = logging.getLogger()
        for handler in root.handlers:
            handler.setLevel(max(handler.level, root.level))
        attach_log_file(config.data_dir, logging.INFO)
        root.setLevel(min(root.level, logging.INFO))
        updates = UpdateOptions(
            config_path=config_path.resolve(),
            root=release_root.resolve(),
            services=services,  # type: ignore[arg-type] - one of the two choices
            unsigned_config=unsigned_config,
        )
        station = build_station(config, devices=True, updates=updates)
    except (StationError, HardwareError, OSError) as exc:
        raise _fail(exc) from None
    report = start_report(station, started_at, selftest)
    from device.sdnotify import SystemdNotifier

    systemd = SystemdNotifier()
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    stalled_after = 3 * station.config.sync.heartbeat_interval_s + 30
    with station:
        station.start()
        kiosk = None
        if station.config.kiosk is not None:
            from device.kiosk.server import KioskServer

            kiosk = KioskServer(station).start()
            click.echo(f"kiosk on {kiosk.url}", err=True)
        click.echo(f"station {station.config.station_id} running", err=True)
        systemd.ready(f"station {station.config.station_id} running")
        try:
            while True:
                progress = station.sync.making_progress(stalled_after)
                report(progress)
                if stop.wait(1.0):
                    break
                station.tick()
                if progress:
                    systemd.watchdog()
        finally:
            systemd.stopping()
            if kiosk is not None:
                kiosk.stop()
    click.echo(f"station {station.config.station_id} stopped", err=True)


@main.command()
@config_option
@click.option("--service", default="general_petition", show_default=True)
@click.option(
    "--phone", required=True, help="Mobile number, 10 digits (0xxxxxxxxx; dashes allowed)."
)
@click.option("--subject", default="", help="The petition's subject line.")
@click.option(
    "--language",
    type=click.Choice(["th", "vi", "en"]),
    default=None,
    help="The language of the citizen's SMS (default: the server's).",
)
@click.option(
    "--receipt/--no-receipt",
    default=True,
    show_default=True,
    help="Queue its receipt; the running daemon prints it when the printer can.",
)
def petition(
    config_path: Path, service: str, phone: str, subject: str, language: str | None, receipt: bool
) -> None:
    """File a petition into the outbox and print its number (final even offline)."""
    try:
        phone = normalize_thai_mobile(phone)
        config = load_config(config_path)
        station = build_station(config)
    except (InvalidThaiMobileError, StationError, OSError) as exc:
        raise _fail(exc) from None
    with station:
        try:
            number = station.file_petition(
                service,
                phone,
                {"subject": subject},
                receipt=receipt and config.printer is not None,
                language=language,
            )
        except ContractError as exc:
            raise _fail(exc) from None
    click.echo(number)


@main.command()
@config_option
@click.argument("citizen_id")
def lookup(config_path: Path, citizen_id: str) -> None:
    """Ask the server for an insured-person summary (live, over MQTT request/response)."""
    try:
        station = build_station(load_config(config_path))
    except (StationError, OSError) as exc:
        raise _fail(exc) from None
    with station:
        station.start()
        station.sync.link.wait_connected(station.config.sync.lookup_timeout_s)
        try:
            response = station.sync.lookups.insured_summary(citizen_id)
        except (StationError, ContractError) as exc:
            raise _fail(exc) from None
    from contract import to_builtins

    click.echo(json.dumps(to_builtins(response), ensure_ascii=False, indent=2))


@main.command()
@config_option
def status(config_path: Path) -> None:
    """Show the outbox backlog."""
    try:
        station = build_station(load_config(config_path))
    except (StationError, OSError) as exc:
        raise _fail(exc) from None
    with station:
        backlog = station.store.outbox.backlog()
        table = Table(title=f"station {station.config.station_id}")
        table.add_column("figure")
        table.add_column("value", justify="right")
        table.add_row("pending", str(backlog.pending))
        table.add_row("rejected", str(backlog.rejected))
        table.add_row("oldest pending (station time)", str(backlog.oldest_station_time or "-"))
        table.add_row("schema version", str(station.store.schema_version))
        Console().print(table)


main.add_command(browser)
main.add_command(update)


@main.command()
@config_option
@click.option(
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Where to write the zip (default: diagnostics-<station>-<UTC time>.zip here).",
)
@click.option("--lines", default=200, show_default=True, help="Log lines to include.")
@click.option(
    "--selftest/--no-selftest",
    default=True,
    show_default=True,
    help="Run the hardware self-test (stop the daemon first: it holds the devices).",
)
def diagnostics(config_path: Path, out: Path | None, lines: int, selftest: bool) -> None:
    """Write the station's redacted diagnostics bundle to a file (on site, no network needed).

    The same bundle the dashboard's ``collect_diagnostics`` fetches: versions, config without
    secrets, self-test, outbox and replica figures, disk, clock, the log's last lines; only
    allowlisted fields, with citizen ids, phone numbers and residents' names masked.
    """
    from datetime import UTC, datetime

    from device.diagnostics import build_bundle

    try:
        station = build_station(load_config(config_path))
    except (StationError, OSError) as exc:
        raise _fail(exc) from None
    with station:
        try:
            bundle = build_bundle(
                station, made_by="on site", log_lines=max(lines, 0), run_hardware_selftest=selftest
            )
        except (StationError, HardwareError, OSError, ValueError) as exc:
            raise _fail(exc) from None
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    out = out or Path(f"diagnostics-{station.config.station_id}-{stamp}.zip")
    out.write_bytes(bundle.data)
    out.chmod(0o600)
    checks = bundle.document["selftest"]["checks"]
    failed = sum(1 for check in checks if check["outcome"] == "fail")
    click.echo(
        f"{out}: {len(bundle.data)} bytes, {bundle.log_lines} log lines, "
        f"{bundle.document['log']['masked']} masked, self-test "
        f"{'passed' if not failed else f'{failed} failed'}"
    )
