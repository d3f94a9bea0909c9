"""The daemon's health report: one small JSON file the updater reads to decide a commit.

The daemon rewrites ``<data_dir>/health.json`` (atomically) every second: its version, its
pid, whether the broker is connected, whether the sync loop makes progress, the outbox
backlog and how much of it was acked since start, and — on the first start of a new release
(the updater leaves ``<data_dir>/update-trial`` for it) — the self-test it ran before opening
its devices. Nothing in it is personal data.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import msgspec

from device import __version__
from device.atomic_file import write_atomically

if TYPE_CHECKING:
    from device.config import StationConfig
    from device.station import Station

HEALTH_FILE = "health.json"
TRIAL_MARKER = "update-trial"


class SelftestSummary(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """The outcome of the start-up self-test: passed, and the failed checks if not."""

    passed: bool
    failures: tuple[str, ...] = ()


class HealthReport(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """What the running daemon says about itself."""

    version: str
    pid: int
    started_at: datetime
    written_at: datetime
    broker_connected: bool
    sync_progress: bool
    pending: int
    #: Transactions the server acked since the daemon started.
    settled: int
    selftest: SelftestSummary | None = None


def write_health(data_dir: Path, report: HealthReport) -> None:
    """Publish the daemon's report for the updater."""
    write_atomically(Path(data_dir) / HEALTH_FILE, msgspec.json.encode(report), durable=False)


def read_health(data_dir: Path) -> HealthReport | None:
    """The daemon's latest report, or ``None`` if there is none (yet) or it is unreadable."""
    try:
        return msgspec.json.decode((Path(data_dir) / HEALTH_FILE).read_bytes(), type=HealthReport)
    except (OSError, msgspec.DecodeError):
        return None


def trial_selftest(config: StationConfig) -> SelftestSummary | None:
    """On the first start of a new release (the trial marker is there), run the self-test.

    It runs before the daemon opens its devices (the self-test opens each one itself); on
    any other start it is skipped, so an ordinary restart is not slowed down.
    """
    if not (Path(config.data_dir) / TRIAL_MARKER).exists():
        return None
    from device.selftest import SelftestOptions, run_selftest

    results = run_selftest(config, SelftestOptions(card_wait_s=1.0))
    failures = tuple(f"{r.device} {r.check}: {r.detail}" for r in results if r.outcome == "fail")
    return SelftestSummary(passed=not failures, failures=failures)


def start_report(
    station: Station, started_at: datetime, selftest: SelftestSummary | None
) -> Callable[[bool], None]:
    """A function the daemon's loop calls each second to rewrite its health report."""
    data_dir = Path(station.config.data_dir)
    data_dir.mkdir(parents=True, exist_ok=True)

    def report(sync_progress: bool) -> None:
        backlog = station.store.outbox.backlog()
        write_health(
            data_dir,
            HealthReport(
                version=__version__,
                pid=os.getpid(),
                started_at=started_at,
                written_at=datetime.now(UTC),
                broker_connected=station.sync.link.connected,
                sync_progress=sync_progress,
                pending=backlog.pending,
                settled=station.sync.drainer.settled,
                selftest=selftest,
            ),
        )

    return report
