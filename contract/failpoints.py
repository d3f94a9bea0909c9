"""Named fault-injection points for the delivery-guarantee tests.

Production code calls :func:`hit` at the places where a crash matters (after the outbox
commit, after a publish, after the server's commit but before its ack). Nothing happens unless
the environment variable ``DCS_FAILPOINTS`` names the point, e.g. ``server.after_apply=kill``;
then the process kills itself with SIGKILL, exactly like a power cut at that line.
"""

from __future__ import annotations

import os
import signal

_ENV = "DCS_FAILPOINTS"


def _armed() -> dict[str, str]:
    spec = os.environ.get(_ENV, "")
    points: dict[str, str] = {}
    for item in filter(None, (part.strip() for part in spec.split(","))):
        name, _, action = item.partition("=")
        points[name] = action or "kill"
    return points


_ARMED = _armed()


def hit(name: str) -> None:
    """Trigger the fault armed for ``name``, if any."""
    if not _ARMED:
        return
    action = _ARMED.get(name)
    if action == "kill":
        os.kill(os.getpid(), signal.SIGKILL)
