"""The demo's processes: each in its own process group, stopped by group id, never by name.

A child started with ``start_new_session=True`` leads a new process group (its pgid is its
pid), and everything it forks stays in that group. Stopping signals the whole group, so a
gunicorn worker still serving a dashboard's event stream goes with its master instead of
surviving as an orphan. Ctrl-C in the terminal reaches only the demo (the children are in
other groups); the demo then stops them itself, in order, with a grace period.

The virtual cards are kept apart from the supervised processes: pulling a card (stopping its
process) is something a visitor does, not a failure.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

from rich.console import Console

from devtools.broker_tls import TlsBroker
from devtools.cardstack import LocalPcscd
from provisioning.pki import CertificateAuthority

GRACE_S = 10.0
PROCESS_RECORD = "processes.txt"  # one "name pid" line per process started, for the tests
console = Console()


def signal_group(pgid: int, sig: signal.Signals) -> None:
    """Signal a process group we started; an already empty group is not an error."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)


@dataclass
class CardSlot:
    """A station's card slot: the virtual card process while a card is in it."""

    args: list[str]
    process: subprocess.Popen | None = None

    @property
    def inserted(self) -> bool:
        """Whether a card process is running in the slot now."""
        return self.process is not None and self.process.poll() is None


@dataclass
class Fleet:
    """The demo's processes, stopped in reverse order by process group."""

    root: Path
    broker: TlsBroker
    ca: CertificateAuthority | None = None
    pcscd: LocalPcscd | None = None
    processes: dict[str, subprocess.Popen] = field(default_factory=dict)
    cards: dict[str, CardSlot] = field(default_factory=dict)

    def _start(self, name: str, args: list[str], env: dict[str, str]) -> subprocess.Popen:
        log = open(self.root / f"{name}.log", "ab")  # noqa: SIM115 - owned by the child
        process = subprocess.Popen(
            args,
            env={**os.environ, **env},
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        log.close()
        self.record(name, process.pid)
        return process

    def record(self, name: str, pid: int) -> None:
        """Write a started process down in the demo's root (its pid is its group id)."""
        with open(self.root / PROCESS_RECORD, "a", encoding="utf-8") as record:
            record.write(f"{name} {pid}\n")

    def spawn(self, name: str, args: list[str], env: dict[str, str]) -> None:
        """Start a supervised process: the demo fails if it exits."""
        self.processes[name] = self._start(name, args, env)

    def add_card_slot(self, station_id: str, args: list[str]) -> None:
        """Remember how to start the station's virtual card, and insert it."""
        self.cards[station_id] = CardSlot(args)
        self.insert_card(station_id)

    def insert_card(self, station_id: str) -> bool:
        """Start the card process of the slot; False if a card is already in it."""
        slot = self.cards[station_id]
        if slot.inserted:
            return False
        slot.process = self._start(f"{station_id}-card", slot.args, {})
        return True

    def pull_card(self, station_id: str) -> bool:
        """Stop the card process of the slot (the card closes its socket); False if empty."""
        slot = self.cards[station_id]
        process, slot.process = slot.process, None
        if process is None or process.poll() is not None:
            return False
        _stop_all({f"{station_id}-card": process})
        return True

    def dead(self) -> list[str]:
        """Supervised processes that have exited (cards come and go; they do not count)."""
        return [name for name, proc in self.processes.items() if proc.poll() is not None]

    def stop(self) -> None:
        """Stop the cards, then every process group, then pcscd and the broker."""
        cards = {f"{sid}-card": s.process for sid, s in self.cards.items() if s.process}
        _stop_all({**cards, **dict(reversed(list(self.processes.items())))})
        if self.pcscd is not None:
            self.pcscd.cleanup()
        self.broker.cleanup()


def _stop_all(processes: dict[str, subprocess.Popen], grace_s: float = GRACE_S) -> None:
    """SIGTERM each group, wait up to ``grace_s`` for the leaders, then SIGKILL each group.

    The final SIGKILL goes to every group, even one whose leader exited cleanly: whatever is
    left in it (a worker whose master is gone) is an orphan of ours.
    """
    for proc in processes.values():
        if proc.poll() is None:
            signal_group(proc.pid, signal.SIGTERM)
    deadline = time.monotonic() + grace_s
    for name, proc in processes.items():
        try:
            proc.wait(max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            console.print(f"[yellow]{name} did not stop; killing its process group {proc.pid}")
    for proc in processes.values():
        signal_group(proc.pid, signal.SIGKILL)
    for proc in processes.values():
        proc.wait()
