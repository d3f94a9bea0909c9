"""Make a running Mosquitto re-read its files (the CRL above all): SIGHUP or a command.

Mosquitto re-reads its configuration, certificates and CRL on SIGHUP. The pid comes from
its pid file (``pid_file`` in mosquitto.conf, or systemd's), and is checked to be a
``mosquitto`` process first: a stale pid file must not send a signal to whatever process
reused the number. Where systemd runs the broker, ``systemctl reload mosquitto.service``
(its ``ExecReload`` is the same SIGHUP) is the configured command instead.
"""

from __future__ import annotations

import os
import shlex
import signal
import subprocess
from pathlib import Path


class ReloadError(Exception):
    """The broker could not be told to reload; the message says why."""


def _process_name(pid: int) -> str | None:
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        return None


def signal_from_pid_file(pid_file: Path, expected_name: str = "mosquitto") -> int:
    """SIGHUP the process named in ``pid_file`` if it is ``expected_name``; its pid."""
    try:
        text = Path(pid_file).read_text().strip()
    except OSError as exc:
        raise ReloadError(f"cannot read the broker's pid file: {exc}") from None
    if not text.isdigit() or int(text) <= 1:
        raise ReloadError(f"{pid_file} does not hold a process id: {text[:40]!r}")
    pid = int(text)
    name = _process_name(pid)
    if name is None:
        raise ReloadError(f"no process {pid} (from {pid_file}): is the broker running?")
    if name != expected_name:
        raise ReloadError(
            f"process {pid} (from {pid_file}) is {name!r}, not {expected_name!r}; "
            "refusing to signal it (a stale pid file?)"
        )
    try:
        os.kill(pid, signal.SIGHUP)
    except OSError as exc:
        raise ReloadError(f"cannot signal process {pid}: {exc}") from None
    return pid


def run_reload_command(command: str) -> None:
    """Run the configured reload command (no shell); a failure is a clear error."""
    try:
        done = subprocess.run(
            shlex.split(command), capture_output=True, text=True, timeout=60, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise ReloadError(f"`{command}` could not run: {exc}") from None
    if done.returncode != 0:
        detail = (done.stderr or done.stdout).strip()[:300]
        raise ReloadError(f"`{command}` failed (exit {done.returncode}): {detail}")


def reload_broker(pid_file: Path | None = None, command: str | None = None) -> str:
    """Reload by ``command`` or by SIGHUP to the pid in ``pid_file``; what was done."""
    if command:
        run_reload_command(command)
        return f"ran `{command}`"
    if pid_file is not None:
        pid = signal_from_pid_file(pid_file)
        return f"sent SIGHUP to mosquitto (pid {pid})"
    raise ReloadError("give --pid-file or --reload-command to reload the broker")
