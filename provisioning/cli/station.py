"""``dcs-provision station selftest``: devices, hardening and a round trip to the server."""

from __future__ import annotations

import time
from pathlib import Path

import click
from rich.console import Console
from rich.table import Table


@click.group()
def station() -> None:
    """One station."""


@station.command("selftest")
@click.option(
    "--config",
    "config_path",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    required=True,
)
@click.option("--root", type=click.Path(file_okay=False, path_type=Path), default=Path("/"))
@click.option("--development", is_flag=True, help="Allow development parts (the demo's vpcd).")
@click.option("--require-card", is_flag=True, help="A missing card fails the card check.")
@click.option("--server-timeout", default=10.0, show_default=True)
def selftest(
    config_path: Path, root: Path, development: bool, require_card: bool, server_timeout: float
) -> None:
    """Run before the daemon starts (it needs the devices and the station's broker identity)."""
    from device.config import load_config
    from device.errors import StationError
    from device.selftest import SelftestOptions, run_selftest
    from provisioning.harden import check_station

    try:
        config = load_config(config_path)
    except StationError as exc:
        raise click.ClickException(str(exc)) from None
    rows: list[tuple[str, str, str, str]] = []
    for result in run_selftest(config, SelftestOptions(require_card=require_card)):
        rows.append((result.device, result.check, result.outcome, result.detail))
    for check in check_station(config, root, production=not development):
        rows.append(("hardening", check.name, "ok" if check.ok else "fail", check.detail))
    rows.append(("server", "round trip", *_round_trip(config, server_timeout)))

    table = Table(title=f"station {config.station_id}: self-test")
    for column in ("part", "check", "result", "detail"):
        table.add_column(column, overflow="fold")
    styles = {"ok": "green", "fail": "red", "skip": "yellow", "warn": "yellow"}
    for part, name, outcome, detail in rows:
        table.add_row(part, name, f"[{styles.get(outcome, '')}]{outcome.upper()}", detail)
    Console().print(table)
    failed = [row for row in rows if row[2] == "fail"]
    if failed:
        raise click.ClickException(f"{len(failed)} check(s) failed")
    click.echo("self-test passed")


def _round_trip(config, timeout_s: float) -> tuple[str, str]:  # type: ignore[no-untyped-def]
    """A live lookup through the broker to the server and back (any answer proves the path)."""
    from device.errors import StationError
    from device.station import build_station

    probe = "1234567891020"  # a valid check digit, no such resident: "not found" is an answer
    try:
        with build_station(config) as station:
            station.start()
            started = time.monotonic()
            if not station.sync.link.wait_connected(timeout_s):
                return "fail", f"no connection to {config.broker.host}:{config.broker.port}"
            response = station.sync.lookups.insured_summary(probe, timeout_s=timeout_s)
            elapsed = (time.monotonic() - started) * 1000
    except (StationError, OSError) as exc:
        return "fail", f"{type(exc).__name__}: {exc}"
    return "ok", f"the server answered ({response.status}) in {elapsed:.0f} ms"
