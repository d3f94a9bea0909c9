"""Times as an operator types them into a ``datetime-local`` field: the deployment's wall clock."""

from __future__ import annotations

from datetime import datetime

from contract.local_time import THAILAND


def wall_clock(moment: datetime) -> str:
    """``moment`` as the test deployment's (Thailand's) wall clock shows it, to the minute."""
    return moment.astimezone(THAILAND.zone).strftime("%Y-%m-%dT%H:%M")
