"""Readiness: can this server do its work now? The database answers, the broker answers the
alarm worker's probe, and every expected worker has beaten recently.

Liveness (``/api/v1/health``) only says the web process and its database are up; a load
balancer or an orchestrator asks ``/readyz`` before sending work, and an operator reads which
part is missing from its answer.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import peewee

from sync_server.db import database, utc_now
from sync_server.ops.beats import WORKER_KINDS
from sync_server.ops.models import WorkerHeartbeat

#: Config keys and their defaults.
READY_DEFAULTS: dict[str, object] = {
    "READY_WORKERS": list(WORKER_KINDS),
    #: A worker whose newest beat is older than this is stale (three missed beats).
    "READY_WORKER_STALE_S": 45.0,
}


@dataclass
class Readiness:
    """The answer: ``ready`` only when every check passed; ``failing`` names what did not."""

    checks: dict[str, dict[str, object]] = field(default_factory=dict)

    @property
    def failing(self) -> list[str]:
        """The names of the checks that failed, in order."""
        return [name for name, check in self.checks.items() if not check["ok"]]

    @property
    def ready(self) -> bool:
        """Whether every check passed."""
        return not self.failing

    def as_json(self) -> dict[str, object]:
        """The body of ``/readyz``."""
        return {
            "status": "ready" if self.ready else "not ready",
            "failing": self.failing,
            "checks": self.checks,
        }


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def check(config: Mapping[str, object], now: datetime | None = None) -> Readiness:
    """Every readiness check, never raising: a failing part is a failed check."""
    now = now or utc_now()
    result = Readiness()
    try:
        database.execute_sql("SELECT 1")
    except peewee.DatabaseError as exc:
        result.checks["database"] = {"ok": False, "error": type(exc).__name__}
        return result  # nothing else can be read
    result.checks["database"] = {"ok": True}
    from sync_server.dashboard.broker import unreachable_since

    down = unreachable_since()
    result.checks["broker"] = (
        {"ok": True} if down is None else {"ok": False, "down_since": down.isoformat()}
    )
    stale_after = timedelta(seconds=float(config.get("READY_WORKER_STALE_S", 45.0)))  # type: ignore[arg-type]
    kinds: Sequence[str] = config.get("READY_WORKERS", WORKER_KINDS)  # type: ignore[assignment]
    newest: dict[str, datetime] = {}
    for row in WorkerHeartbeat.select(WorkerHeartbeat.kind, WorkerHeartbeat.beat_at):
        beat_at = _aware(row.beat_at)
        if row.kind not in newest or beat_at > newest[row.kind]:
            newest[row.kind] = beat_at
    for kind in kinds:
        last = newest.get(kind)
        if last is None:
            result.checks[f"worker:{kind}"] = {"ok": False, "error": "never beat"}
            continue
        age = max(0.0, (now - last).total_seconds())
        result.checks[f"worker:{kind}"] = {"ok": now - last < stale_after, "age_s": round(age, 1)}
    return result
