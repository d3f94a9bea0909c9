"""When a wave succeeds, waits or aborts: the rule, apart from the database.

As AWS IoT Jobs' ``abortConfig``: failures are counted among the wave's *executed* jobs
(committed or failed), and only from ``min_executed`` executed jobs on, so one early
failure in a large wave does not abort it. Unlike AWS, where the rollout rate grows on
``numberOfSucceededThings``, a wave here proceeds only when ``success_pct`` of all its
stations committed (Mender's phases by share, gated on success instead of on time).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

#: States a station reports on its way; the job is still open.
IN_FLIGHT = frozenset(
    {
        "sent",
        "queued",
        "downloading",
        "verifying",
        "installing",
        "switching",
        "health_check",
    }
)
#: Reported failures: the station did not end on the new release (or settings).
FAILED = frozenset({"failed", "rolled_back"})
#: A job no one will hear of any more.
CLOSED = frozenset({"committed", "failed", "rolled_back", "expired", "cancelled"})

Decision = Literal["wait", "succeed", "abort"]


@dataclass(frozen=True)
class WaveCounts:
    """A wave's jobs by outcome."""

    total: int
    committed: int = 0
    failed: int = 0
    expired: int = 0

    @property
    def executed(self) -> int:
        """Jobs that ended on the station, well or badly."""
        return self.committed + self.failed

    @property
    def open(self) -> int:
        """Jobs that may still commit (pending, sent or in flight)."""
        return self.total - self.committed - self.failed - self.expired

    @classmethod
    def of(cls, states: list[str]) -> WaveCounts:
        """Counts from the jobs' states."""
        return cls(
            total=len(states),
            committed=sum(state == "committed" for state in states),
            failed=sum(state in FAILED for state in states),
            expired=sum(state in ("expired", "cancelled") for state in states),
        )


def decide(
    counts: WaveCounts, *, success_pct: float, abort_pct: float, min_executed: int
) -> tuple[Decision, str | None]:
    """What the wave does next, and why when it aborts."""
    if counts.executed >= max(min_executed, 1):
        failed_pct = 100 * counts.failed / counts.executed
        if failed_pct > abort_pct:
            return "abort", (
                f"{counts.failed} of {counts.executed} executed failed "
                f"({failed_pct:.0f}% > {abort_pct:g}%)"
            )
    needed = math.ceil(counts.total * success_pct / 100)
    if counts.committed >= needed:
        return "succeed", None
    if counts.committed + counts.open < needed:
        return "abort", (
            f"{counts.committed} of {counts.total} committed and {counts.open} still open: "
            f"{success_pct:g}% can no longer be reached"
        )
    return "wait", None
