"""Handing a step to a process that outlives the daemon, and reading how it ended.

The agent runs inside the station daemon, and installing a release (or applying settings)
restarts that daemon. So the agent does not install: it starts ``dcs-station update install``
(``rollback``, ``configure``, ``unconfigure``) of the *running* release — a known-good
installer — as a process of its own, outside the daemon's unit:

- under systemd, a transient unit (``systemd-run``): ``systemctl restart dcs-station`` kills
  the daemon's whole control group, and a plain child would die with it;
- under the test and demo supervisor, a child in a new session: the supervisor stops only
  the daemon's pid.

That process writes its outcome (:class:`Outcome`) where the agent said; whichever daemon
runs then (the new release's, or the old one's after a rollback) reads it and reports.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Literal

import msgspec

from device.atomic_file import write_atomically

Services = Literal["systemd", "supervisor"]

#: Environment the installer needs from the daemon's (the fleet root, the release Python,
#: test failpoints); systemd-run starts from a clean environment.
_PASSED_ON = ("DCS_FLEET_ROOT", "DCS_RELEASE_PYTHON", "DCS_FAILPOINTS", "PATH")


#: Children started under the supervisor, kept referenced for the daemon's life: one still
#: running when the daemon stops (the usual case: the installer restarts it) is not ours to
#: wait for, and dropping its handle would only warn.
_DETACHED: list[subprocess.Popen] = []


class Outcome(msgspec.Struct, kw_only=True):
    """How a handed-over step ended: the journal's final state and why."""

    state: str
    reason: str | None = None


def write_outcome(path: Path, outcome: Outcome) -> None:
    """Durably record the outcome (the agent may read it only after a restart)."""
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    write_atomically(Path(path), msgspec.json.encode(outcome))


def read_outcome(path: Path) -> Outcome | None:
    """The outcome, or ``None`` while the process has not ended."""
    try:
        return msgspec.json.decode(Path(path).read_bytes(), type=Outcome)
    except (FileNotFoundError, msgspec.DecodeError):
        return None


def station_command() -> Path:
    """The running release's ``dcs-station`` (the installer known to work)."""
    return Path(sys.executable).parent / "dcs-station"


def launch(
    args: list[str], *, services: Services, name: str, log_path: Path
) -> subprocess.Popen | None:
    """Start ``dcs-station update ARGS`` so that it survives a restart of the daemon's units.

    Returns the child under the supervisor (the agent polls it, so it is reaped); ``None``
    under systemd, where it is a transient unit of its own.
    """
    command = [str(station_command()), "update", *args]
    if services == "systemd":
        environment = [f"--setenv={k}={os.environ[k]}" for k in _PASSED_ON if k in os.environ]
        subprocess.run(
            [
                "systemd-run",
                f"--unit=dcs-update-{name}",
                "--collect",
                "--quiet",
                *environment,
                *command,
            ],
            check=True,
        )
        return None
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "ab") as log:
        child = subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=log,
            start_new_session=True,
            close_fds=True,
        )
    _DETACHED[:] = [*(c for c in _DETACHED if c.poll() is None), child]
    return child
