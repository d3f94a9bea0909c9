"""Rollouts: create, advance wave by wave, record progress, abort and roll back.

Everything here takes ``now`` (the server's clock) so the rules are tested without waiting;
the worker (``worker.py``) calls :func:`tick` on a timer, :func:`record_progress` for each
report and :func:`station_online` when a station comes back.

- **Create**: the target is resolved to a fixed list of stations split in waves; wave 1 is
  running at once, the others pending. Jobs start ``pending``.
- **Tick**: jobs past the deadline that never ended are ``expired``; the running wave is
  judged (``waves.decide``): it succeeds (the next wave starts, or the rollout completes),
  waits, or aborts the rollout; pending jobs of running waves and pending rollbacks are sent.
- **Abort** (by the rule or an operator): the running wave is aborted and every station of
  it that was sent the job gets a rollback job (stop it, or revert it if committed); later
  waves are cancelled. Earlier waves, which met their threshold, are left as they are.
- **A station comes back** (presence ``online``): its open jobs are sent again until the
  deadline; a job id is idempotent on the station.
"""

from __future__ import annotations

import json
import logging
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from contract.rollout import FINAL_STATES, JobProgress, check_settings
from sync_server.audit import audit
from sync_server.db import write_transaction
from sync_server.rollouts import targets
from sync_server.rollouts.jobs import Dispatcher, aware, job_for, rollback_for
from sync_server.rollouts.models import Release, Rollout, RolloutJob, RolloutWave
from sync_server.rollouts.waves import IN_FLIGHT, WaveCounts, decide

log = logging.getLogger(__name__)


class RolloutError(ValueError):
    """A rollout that cannot be created or changed as asked."""


@dataclass(frozen=True)
class Plan:
    """What an operator asks for; see :class:`sync_server.rollouts.models.Rollout`."""

    target: targets.Target
    wave_sizes: list[int]
    deadline: datetime
    success_pct: float = 100.0
    abort_pct: float = 0.0
    min_executed: int = 1
    health_timeout_s: float = 180.0


def create(
    plan: Plan,
    *,
    actor: str,
    now: datetime,
    release: Release | None = None,
    config: tuple[str, dict] | None = None,
) -> Rollout:
    """A new rollout of ``release`` or of ``config`` (``(label, settings)``), wave 1 running."""
    if (release is None) == (config is None):
        raise RolloutError("a rollout sends either a release or a configuration change")
    if not 0 < plan.success_pct <= 100 or not 0 <= plan.abort_pct < 100:
        raise RolloutError("thresholds: success in (0, 100], abort in [0, 100)")
    if aware(plan.deadline) <= now:
        raise RolloutError("the deadline is in the past")
    config_json = None
    if config is not None:
        label, settings = config
        try:
            from contract.rollout import ConfigChange

            change = ConfigChange(settings=check_settings(settings), label=label)
        except ValueError as exc:
            raise RolloutError(str(exc)) from None
        config_json = json.dumps({"label": change.label, "settings": change.settings})
    rollout_id = str(uuid.uuid4())
    try:
        stations = targets.resolve(plan.target, seed=rollout_id)
        waves = targets.split_waves(stations, plan.wave_sizes)
    except targets.TargetError as exc:
        raise RolloutError(str(exc)) from None
    with write_transaction():
        rollout = Rollout.create(
            rollout_id=rollout_id,
            kind="release" if release is not None else "config",
            release=release,
            config=config_json,
            target=json.dumps(plan.target.as_json()),
            success_pct=plan.success_pct,
            abort_pct=plan.abort_pct,
            min_executed=plan.min_executed,
            deadline=aware(plan.deadline),
            health_timeout_s=plan.health_timeout_s,
            created_at=now,
            created_by=actor,
        )
        for number, members in enumerate(waves, start=1):
            wave = RolloutWave.create(
                rollout=rollout,
                number=number,
                state="running" if number == 1 else "pending",
                started_at=now if number == 1 else None,
            )
            for station_id in members:
                RolloutJob.create(
                    job_id=str(uuid.uuid4()), rollout=rollout, wave=wave, station_id=station_id
                )
        what = release.version if release is not None else f"config {config[0]}"  # type: ignore[index]
        audit(actor, "rollout.create", rollout_id, f"{what} to {len(stations)} stations")
    return rollout


def abort(rollout_id: str, *, actor: str, reason: str, now: datetime) -> bool:
    """Abort a running rollout: roll back its running wave, cancel the waves after it."""
    with write_transaction():
        rollout = Rollout.get_or_none(Rollout.rollout_id == rollout_id)
        if rollout is None or rollout.state != "running":
            return False
        Rollout.update(state="aborted", reason=reason[:200], finished_at=now).where(
            Rollout.rollout_id == rollout_id
        ).execute()
        for wave in rollout.waves:
            if wave.state == "running":
                _roll_back_wave(wave, now)
            elif wave.state == "pending":
                RolloutWave.update(state="cancelled", finished_at=now).where(
                    RolloutWave.id == wave.id
                ).execute()
                RolloutJob.update(state="cancelled", updated_at=now).where(
                    RolloutJob.wave == wave
                ).execute()
        audit(actor, "rollout.abort", rollout_id, reason[:64])
    log.warning("rollout %s aborted: %s", rollout_id, reason)
    return True


def _roll_back_wave(wave: RolloutWave, now: datetime) -> None:
    RolloutWave.update(state="aborted", finished_at=now).where(RolloutWave.id == wave.id).execute()
    for job in RolloutJob.select().where(RolloutJob.wave == wave):
        if job.state == "pending":  # never sent: nothing to undo
            RolloutJob.update(state="cancelled", updated_at=now).where(
                RolloutJob.job_id == job.job_id
            ).execute()
        elif job.state in IN_FLIGHT or job.state == "committed":
            RolloutJob.update(rollback_job_id=str(uuid.uuid4()), rollback_state="pending").where(
                RolloutJob.job_id == job.job_id
            ).execute()


def record_progress(station_id: str, progress: JobProgress, now: datetime) -> bool:
    """Store a station's report on a job or a rollback; ``False`` if it is not this station's.

    A final state is never replaced by a non-final one (a report sent again after a
    reconnect may arrive late); a final one may be replaced by another final one.
    """
    if progress.station_id != station_id:
        return False
    with write_transaction():
        job = RolloutJob.get_or_none(
            (RolloutJob.job_id == progress.job_id) & (RolloutJob.station_id == station_id)
        )
        if job is not None:
            if job.state in FINAL_STATES and progress.state not in FINAL_STATES:
                return True
            if job.state in ("expired", "cancelled") and progress.state not in FINAL_STATES:
                return True
            RolloutJob.update(
                state=progress.state,
                reason=(progress.reason or None),
                version=progress.version or job.version,
                updated_at=now,
            ).where(RolloutJob.job_id == job.job_id).execute()
            return True
        job = RolloutJob.get_or_none(
            (RolloutJob.rollback_job_id == progress.job_id) & (RolloutJob.station_id == station_id)
        )
        if job is None:
            return False
        if job.rollback_state in FINAL_STATES and progress.state not in FINAL_STATES:
            return True
        RolloutJob.update(
            rollback_state=progress.state,
            version=progress.version or job.version,
            updated_at=now,
        ).where(RolloutJob.job_id == job.job_id).execute()
    return True


def _expire(rollout: Rollout, now: datetime) -> None:
    if aware(rollout.deadline) > now:
        return
    RolloutJob.update(state="expired", updated_at=now).where(
        (RolloutJob.rollout == rollout) & (RolloutJob.state.in_(["pending", *IN_FLIGHT]))
    ).execute()


def _judge(rollout: Rollout, now: datetime) -> None:
    """Move the running wave on, or abort the rollout."""
    running = (
        RolloutWave.select()
        .where((RolloutWave.rollout == rollout) & (RolloutWave.state == "running"))
        .first()
    )
    if running is None:
        return
    states = [
        job.state for job in RolloutJob.select(RolloutJob.state).where(RolloutJob.wave == running)
    ]
    decision, reason = decide(
        WaveCounts.of(states),
        success_pct=rollout.success_pct,
        abort_pct=rollout.abort_pct,
        min_executed=rollout.min_executed,
    )
    if decision == "abort":
        abort(
            rollout.rollout_id, actor="rollouts", reason=f"wave {running.number}: {reason}", now=now
        )
        return
    if decision == "wait":
        return
    with write_transaction():
        RolloutWave.update(state="succeeded", finished_at=now).where(
            RolloutWave.id == running.id
        ).execute()
        after = (
            RolloutWave.select()
            .where((RolloutWave.rollout == rollout) & (RolloutWave.number == running.number + 1))
            .first()
        )
        if after is None:
            Rollout.update(state="completed", finished_at=now).where(
                Rollout.rollout_id == rollout.rollout_id
            ).execute()
            audit("rollouts", "rollout.complete", rollout.rollout_id, "ok")
        else:
            RolloutWave.update(state="running", started_at=now).where(
                RolloutWave.id == after.id
            ).execute()


def _send(dispatcher: Dispatcher, rollout: Rollout, job: RolloutJob, now: datetime) -> None:
    dispatcher.send(job_for(job, rollout, now))
    with write_transaction():
        RolloutJob.update(
            state="sent" if job.state == "pending" else job.state,
            sent_at=now,
            times_sent=RolloutJob.times_sent + 1,
            updated_at=now if job.state == "pending" else job.updated_at,
        ).where(RolloutJob.job_id == job.job_id).execute()


def _send_rollback(
    dispatcher: Dispatcher, rollout: Rollout, job: RolloutJob, now: datetime
) -> None:
    dispatcher.send(rollback_for(job, rollout, now))
    if job.rollback_state == "pending":
        with write_transaction():
            RolloutJob.update(rollback_state="sent").where(
                RolloutJob.job_id == job.job_id
            ).execute()


def tick(dispatcher: Dispatcher, now: datetime) -> None:
    """One round over every rollout: expire, judge the running waves, send what is due."""
    for rollout in Rollout.select().where(Rollout.state.in_(["running", "completed"])):
        _expire(rollout, now)
        if rollout.state == "running":
            _judge(rollout, now)
    for rollout in Rollout.select().where(Rollout.state.in_(["running", "completed"])):
        if aware(rollout.deadline) <= now:
            continue
        due = (
            RolloutJob.select()
            .join(RolloutWave)
            .where(
                (RolloutJob.rollout == rollout)
                & (RolloutJob.state == "pending")
                & (RolloutWave.state.in_(["running", "succeeded"]))
            )
        )
        for job in due:
            _send(dispatcher, rollout, job, now)
    for job in RolloutJob.select().where(RolloutJob.rollback_state == "pending"):
        _send_rollback(dispatcher, job.rollout, job, now)


def resend_unanswered(dispatcher: Dispatcher, now: datetime, after: timedelta) -> int:
    """Send again jobs still ``sent`` (no report at all) ``after`` their last sending.

    A job published while the broker was away, or lost with a broker that crashed before
    saving it, would otherwise wait for the station's next reconnect.
    """
    stale = (
        RolloutJob.select()
        .join(Rollout)
        .where(
            (RolloutJob.state == "sent")
            & (RolloutJob.sent_at < now - after)
            & (Rollout.state.in_(["running", "completed"]))
            & (Rollout.deadline > now)
        )
    )
    count = 0
    for job in stale:
        _send(dispatcher, job.rollout, job, now)
        count += 1
    return count


def station_online(dispatcher: Dispatcher, station_id: str, now: datetime) -> int:
    """Send a station that came back its open jobs and rollbacks; how many were sent."""
    sent = 0
    open_jobs = (
        RolloutJob.select()
        .join(Rollout)
        .where(
            (RolloutJob.station_id == station_id)
            & (RolloutJob.state.in_(list(IN_FLIGHT)))
            & (Rollout.state.in_(["running", "completed"]))
            & (Rollout.deadline > now)
        )
    )
    for job in open_jobs:
        _send(dispatcher, job.rollout, job, now)
        sent += 1
    rollbacks = RolloutJob.select().where(
        (RolloutJob.station_id == station_id)
        & (RolloutJob.rollback_state.in_(["pending", *IN_FLIGHT]))
    )
    for job in rollbacks:
        _send_rollback(dispatcher, job.rollout, job, now)
        sent += 1
    return sent


def summary(rollout: Rollout) -> dict[str, object]:
    """A rollout's figures for the pages and the API."""
    states = [
        job.state
        for job in RolloutJob.select(RolloutJob.state).where(RolloutJob.rollout == rollout)
    ]
    counts = WaveCounts.of(states)
    return {
        "stations": counts.total,
        "committed": counts.committed,
        "failed": counts.failed,
        "expired": counts.expired,
        "open": counts.open,
        "in_flight": sum(state in IN_FLIGHT for state in states),
    }
