"""The commit gate: the new release must prove healthy within a deadline.

Healthy means all of: the daemon told its service manager READY=1; its health report
(device/health.py) is from a daemon started after the restart and of the new version; its
start-up self-test passed; the broker is connected; the sync loop makes progress and the
outbox drains (nothing pending, or the server acked something since the start). A failed
self-test is final at once; anything else is waited for until the deadline.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from device.health import read_health
from device.update.services import ServiceManager


@dataclass
class HealthCheck:
    """Decides whether the release the units now run may be committed."""

    services: ServiceManager
    data_dir: Path
    deadline_s: float = 120.0
    poll_s: float = 0.2

    def problem(self, version: str, since: datetime) -> tuple[str | None, bool]:
        """``(what is wrong, whether it is final)``; ``(None, True)`` when healthy."""
        if not self.services.ready():
            return "the daemon did not report READY", False
        report = read_health(self.data_dir)
        if report is None or report.started_at < since:
            return "no health report from the restarted daemon", False
        if report.version != version:
            return f"the daemon runs {report.version}, not {version}", False
        if report.selftest is None:
            return "the start-up self-test has not run", False
        if not report.selftest.passed:
            return "self-test failed: " + "; ".join(report.selftest.failures), True
        if not report.broker_connected:
            return "the broker is not connected", False
        if not report.sync_progress:
            return "the sync loop is stalled", False
        if report.pending and not report.settled:
            return f"the outbox is not draining ({report.pending} pending, none acked)", False
        return None, True

    def wait(self, version: str, since: datetime) -> str | None:
        """``None`` once healthy; else why not, when final or at the deadline."""
        end = time.monotonic() + self.deadline_s
        while True:
            reason, final = self.problem(version, since)
            if reason is None:
                return None
            if final:
                return reason
            if time.monotonic() >= end:
                return f"not healthy within {self.deadline_s:.0f} s: {reason}"
            time.sleep(self.poll_s)
