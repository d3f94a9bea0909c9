"""``dcs-demo card insert|pull``: insert or pull a station's virtual card in a running demo.

The running demo owns the card processes (so Ctrl-C stops them too); this command only asks.
It writes a request file in ``<root>/control/`` and waits for the demo to act on it: the demo
looks for requests a few times a second, starts or stops the card process of that slot (the
same card file every time) and removes the request once done, leaving the slot's state in
``<station>.card``. Files rather than a socket: nothing to bind, and a request left by a
demo that has gone is simply overwritten by the next one.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import click

from devtools.demo_fleet import Fleet

ACTIONS = ("insert", "pull")
DEMO_PID = "demo.pid"


def control_dir(root: Path) -> Path:
    """Where the demo and this command exchange requests."""
    return root / "control"


def _request_file(root: Path, station_id: str) -> Path:
    return control_dir(root) / f"{station_id}.request"


def _state_file(root: Path, station_id: str) -> Path:
    return control_dir(root) / f"{station_id}.card"


def open_control(fleet: Fleet) -> None:
    """Make the control directory: the demo's pid and each slot's state."""
    directory = control_dir(fleet.root)
    directory.mkdir(exist_ok=True)
    (directory / DEMO_PID).write_text(f"{os.getpid()}\n")
    for station_id, slot in fleet.cards.items():
        _state_file(fleet.root, station_id).write_text("inserted" if slot.inserted else "pulled")


def serve_requests(fleet: Fleet) -> list[str]:
    """Act on the pending card requests; what was done, one line each."""
    done = []
    for station_id in fleet.cards:
        request = _request_file(fleet.root, station_id)
        try:
            action = request.read_text().strip()
        except FileNotFoundError:
            continue
        if action == "insert":
            changed = fleet.insert_card(station_id)
            state = "inserted"
        elif action == "pull":
            changed = fleet.pull_card(station_id)
            state = "pulled"
        else:
            changed, state = False, "inserted" if fleet.cards[station_id].inserted else "pulled"
        _state_file(fleet.root, station_id).write_text(state)
        request.unlink()
        done.append(f"{station_id}: card {state}" + ("" if changed else " (already)"))
    return done


def _demo_running(root: Path) -> bool:
    try:
        pid = int((control_dir(root) / DEMO_PID).read_text())
        os.kill(pid, 0)  # existence only; no signal is sent
    except (OSError, ValueError):
        return False
    return True


def request(root: Path, station_id: str, action: str, timeout_s: float = 30.0) -> str:
    """Ask the running demo to insert or pull a card and wait until it has; the slot's state."""
    if not _demo_running(root) or not _state_file(root, station_id).exists():
        raise click.ClickException(f"no running demo with station {station_id} in {root}")
    target = _request_file(root, station_id)
    pending = target.with_suffix(".tmp")
    pending.write_text(action)
    pending.replace(target)  # atomic: the demo never reads half a request
    deadline = time.monotonic() + timeout_s
    while target.exists():
        if time.monotonic() > deadline or not _demo_running(root):
            raise click.ClickException(f"the demo in {root} did not act on the request")
        time.sleep(0.1)
    return _state_file(root, station_id).read_text().strip()


@click.group()
def card() -> None:
    """Insert or pull a station's virtual card in the running demo."""


def _card_command(action: str) -> click.Command:
    @click.option("--station", required=True, help="The station id, e.g. st-lobby-b.")
    @click.option(
        "--root",
        type=click.Path(path_type=Path),
        default=Path("var/demo"),
        show_default=True,
        help="The running demo's root.",
    )
    def run(station: str, root: Path) -> None:
        state = request(root.resolve(), station, action)
        click.echo(f"{station}: card {state}")

    run.__doc__ = f"{action.capitalize()} the station's card (the demo keeps running)."
    return card.command(action)(run)


for _action in ACTIONS:
    _card_command(_action)
