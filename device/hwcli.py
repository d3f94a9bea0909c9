"""``station-hw``: the technician's view of a station's devices."""

from __future__ import annotations

from pathlib import Path

import click
from rich.console import Console
from rich.table import Table

from device.cli import config_option
from device.config import load_config
from device.errors import StationError
from device.selftest import SelftestOptions, passed, run_selftest

#: Exit status when the config cannot be read (1 means a check failed).
EXIT_CONFIG = 2

STYLES = {"ok": "green", "warn": "yellow", "skip": "dim", "fail": "bold red"}


@click.group()
def main() -> None:
    """Check the station's card reader, printer, GPIO panel and watchdog board."""


@main.command()
@config_option
@click.option("--require-card", is_flag=True, help="Fail when no card is in the reader.")
@click.option("--photo", is_flag=True, help="Also read the card's photo.")
@click.option("--test-page", is_flag=True, help="Print a test page (no resident data).")
@click.option(
    "--card-wait",
    type=click.FloatRange(min=0),
    default=3.0,
    show_default=True,
    help="Seconds to wait for the reader scan and an inserted card.",
)
def selftest(
    config_path: Path, require_card: bool, photo: bool, test_page: bool, card_wait: float
) -> None:
    """Test every fitted device; exits 0 when all pass, 1 when any fails, 2 on a bad config.

    Stop the station daemon first: it holds the GPIO pins and the watchdog's serial port.
    """
    console = Console()
    try:
        config = load_config(config_path)
    except StationError as exc:
        console.print(f"[red]error:[/red] {exc}", soft_wrap=True)
        raise SystemExit(EXIT_CONFIG) from None
    options = SelftestOptions(
        card_wait_s=card_wait, require_card=require_card, photo=photo, test_page=test_page
    )
    with console.status("testing the devices…"):
        results = run_selftest(config, options)
    table = Table(title=f"station {config.station_id}: hardware self-test")
    table.add_column("device", no_wrap=True)
    table.add_column("check", no_wrap=True)
    table.add_column("result", no_wrap=True)
    table.add_column("detail", overflow="fold")
    for result in results:
        style = STYLES[result.outcome]
        table.add_row(
            result.device, result.check, f"[{style}]{result.outcome.upper()}", result.detail
        )
    console.print(table)
    failures = sum(result.outcome == "fail" for result in results)
    if passed(results):
        console.print("[green]self-test passed")
        return
    console.print(f"[bold red]self-test failed: {failures} check(s)")
    raise SystemExit(1)
