"""``dcs-provision watchdog flash``: the watchdog board's MicroPython firmware, by mpremote."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import click

import hardware.watchdog.firmware as firmware_package

FIRMWARE_DIR = Path(firmware_package.__file__).parent
FIRMWARE_FILES = ("watchdog_logic.py", "main.py")  # logic first: main imports it


def flash_commands(port: str, mpremote: str = "mpremote") -> list[list[str]]:
    """The mpremote invocations: copy each file to the board's flash, then reset it."""
    commands = [
        [mpremote, "connect", port, "fs", "cp", str(FIRMWARE_DIR / name), f":{name}"]
        for name in FIRMWARE_FILES
    ]
    commands.append([mpremote, "connect", port, "reset"])
    return commands


@click.group()
def watchdog() -> None:
    """The watchdog board."""


@watchdog.command("flash")
@click.option("--port", required=True, help="The board's serial device, e.g. /dev/ttyACM0.")
def flash(port: str) -> None:
    """Copy the firmware to the board and reset it (needs the board on USB)."""
    beside = Path(sys.executable).with_name("mpremote")  # installed with this tool
    mpremote = str(beside) if beside.exists() else shutil.which("mpremote")
    if mpremote is None:
        raise click.ClickException("mpremote is not installed (pip install mpremote)")
    if not Path(port).exists():
        raise click.ClickException(f"no board at {port}: plug the watchdog board in over USB")
    for command in flash_commands(port, mpremote):
        completed = subprocess.run(command, capture_output=True, text=True, check=False)
        if completed.returncode != 0:
            raise click.ClickException(
                f"{' '.join(command[3:])} failed: {completed.stderr.strip() or completed.stdout}"
            )
        click.echo(" ".join(command[3:]))
    click.echo(f"firmware flashed to {port}")
