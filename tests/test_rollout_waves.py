"""Wave logic: thresholds move a rollout on or abort it; aborts roll back; the deadline."""

from __future__ import annotations

from datetime import timedelta

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from contract.rollout import JobProgress, verify_job
from sync_server import create_app
from sync_server.db import database
from sync_server.rollouts import service
from sync_server.rollouts.jobs import Dispatcher
from sync_server.rollouts.models import Rollout, RolloutJob, RolloutWave
from sync_server.rollouts.targets import Target, TargetError, split_waves
from sync_server.rollouts.waves import WaveCounts, decide
from tests.rollout_fixtures import NOW, Recorder, put_stations

KEY = Ed25519PrivateKey.generate()


@pytest.fixture
def app(database_url: str):
    app = create_app(
        {
            "TESTING": True,
            "SECRET_KEY": "rollout-test-secret-0123456789abcdef",
            "DATABASE_URL": database_url,
        }
    )
    with database.connection_context():
        yield app
    database.close()


def config_rollout(stations, waves, **plan) -> Rollout:
    put_stations(*stations)
    return service.create(
        service.Plan(
            target=Target("stations", stations=tuple(stations)),
            wave_sizes=waves,
            deadline=NOW + timedelta(hours=6),
            **plan,
        ),
        actor="ops",
        now=NOW,
        config=("tune-sync", {"sync.window": 512}),
    )


def report(job: RolloutJob, state: str, at=NOW) -> None:
    progress = JobProgress(
        job_id=job.job_id, station_id=job.station_id, state=state, station_time=at
    )
    assert service.record_progress(job.station_id, progress, at)


def jobs_of(rollout: Rollout, wave: int) -> list[RolloutJob]:
    return list(
        RolloutJob.select()
        .join(RolloutWave)
        .where((RolloutJob.rollout == rollout) & (RolloutWave.number == wave))
        .order_by(RolloutJob.station_id)
    )


def test_decide_follows_the_thresholds():
    rule = {"success_pct": 80, "abort_pct": 20, "min_executed": 3}
    assert decide(WaveCounts(total=10, committed=8), **rule) == ("succeed", None)
    assert decide(WaveCounts(total=10, committed=5, failed=1), **rule)[0] == "wait"
    # Two failures among the first two executed: not yet min_executed, so no abort.
    assert decide(WaveCounts(total=10, failed=2), **rule)[0] == "wait"
    decision, reason = decide(WaveCounts(total=10, committed=2, failed=2), **rule)
    assert decision == "abort" and "2 of 4 executed failed" in reason
    # Too many expired to reach 80 %: abort, even without a failure.
    assert decide(WaveCounts(total=10, committed=7, expired=3), **rule)[0] == "abort"
    assert split_waves(list("abcdefgh"), [1, 3]) == [["a"], ["b", "c", "d"], ["e", "f", "g"], ["h"]]


def test_threshold_met_starts_the_next_wave(app):
    recorder = Recorder()
    dispatcher = Dispatcher(KEY, recorder)
    rollout = config_rollout(["st-a", "st-b", "st-c"], [1, 2], success_pct=100, abort_pct=0)
    service.tick(dispatcher, NOW)
    (first,) = recorder.jobs()
    assert first.station_id == "st-a" and first.kind == "config"
    payload = recorder.sent[0][1]
    verify_job(payload, first, station_id="st-a", server_public=KEY.public_key())
    recorder.clear()

    (job_a,) = jobs_of(rollout, 1)
    for state in ("queued", "installing", "health_check"):
        report(job_a, state)
    service.tick(dispatcher, NOW + timedelta(minutes=1))
    assert recorder.jobs() == []  # not committed yet: wave 2 waits
    report(job_a, "committed")
    service.tick(dispatcher, NOW + timedelta(minutes=2))
    assert sorted(job.station_id for job in recorder.jobs()) == ["st-b", "st-c"]
    waves = {w.number: w.state for w in RolloutWave.select().where(RolloutWave.rollout == rollout)}
    assert waves == {1: "succeeded", 2: "running"}

    for job in jobs_of(rollout, 2):
        report(job, "committed")
    service.tick(dispatcher, NOW + timedelta(minutes=3))
    assert Rollout.get_by_id(rollout.rollout_id).state == "completed"


def test_failures_above_the_abort_threshold_roll_the_wave_back(app):
    recorder = Recorder()
    dispatcher = Dispatcher(KEY, recorder)
    stations = ["st-a", "st-b", "st-c", "st-d"]
    rollout = config_rollout(stations, [3, 1], success_pct=100, abort_pct=30, min_executed=2)
    service.tick(dispatcher, NOW)
    recorder.clear()
    wave1 = jobs_of(rollout, 1)
    report(wave1[0], "committed")
    report(wave1[1], "downloading")
    # The third station never answered (offline): it was sent the job, still "sent".
    service.tick(dispatcher, NOW + timedelta(minutes=1))
    assert recorder.jobs() == []
    report(wave1[1], "rolled_back")  # its health check failed: it went back by itself
    service.tick(dispatcher, NOW + timedelta(minutes=2))

    rollout = Rollout.get_by_id(rollout.rollout_id)
    assert rollout.state == "aborted" and "1 of 2 executed failed" in rollout.reason
    waves = {w.number: w.state for w in RolloutWave.select().where(RolloutWave.rollout == rollout)}
    assert waves == {1: "aborted", 2: "cancelled"}
    rollbacks = {job.station_id: job for job in recorder.jobs()}
    # The committed station and the one that may still install get a rollback; the one
    # that already rolled back does not; wave 2 never started.
    assert set(rollbacks) == {"st-a", "st-c"}
    by_station = {job.station_id: job for job in wave1}
    for station_id, job in rollbacks.items():
        assert job.kind == "rollback" and job.target_job_id == by_station[station_id].job_id
    (wave2_job,) = jobs_of(rollout, 2)
    assert wave2_job.state == "cancelled"

    # The committed station reports the rollback done.
    rollback = rollbacks["st-a"]
    done = JobProgress(
        job_id=rollback.job_id, station_id="st-a", state="rolled_back", station_time=NOW
    )
    assert service.record_progress("st-a", done, NOW)
    assert RolloutJob.get_by_id(by_station["st-a"].job_id).rollback_state == "rolled_back"
    # Another station cannot report on st-a's jobs.
    forged = JobProgress(
        job_id=by_station["st-a"].job_id, station_id="st-b", state="failed", station_time=NOW
    )
    assert not service.record_progress("st-b", forged, NOW)


def test_offline_station_gets_the_job_on_return_before_the_deadline_not_after(app):
    recorder = Recorder()
    dispatcher = Dispatcher(KEY, recorder)
    rollout = config_rollout(["st-a", "st-b"], [2], success_pct=50, abort_pct=50)
    service.tick(dispatcher, NOW)
    job_a, job_b = jobs_of(rollout, 1)
    report(job_a, "committed")
    service.tick(dispatcher, NOW + timedelta(minutes=1))
    assert Rollout.get_by_id(rollout.rollout_id).state == "completed"
    recorder.clear()

    # st-b was offline; it comes back an hour later, before the deadline: the job again.
    assert service.station_online(dispatcher, "st-b", NOW + timedelta(hours=1)) == 1
    (again,) = recorder.jobs()
    assert again.job_id == job_b.job_id and again.station_id == "st-b"
    # st-a committed: nothing more for it.
    assert service.station_online(dispatcher, "st-a", NOW + timedelta(hours=1)) == 0
    recorder.clear()

    # Past the deadline the open job expires and a returning station gets nothing.
    after = NOW + timedelta(hours=7)
    service.tick(dispatcher, after)
    assert RolloutJob.get_by_id(job_b.job_id).state == "expired"
    assert service.station_online(dispatcher, "st-b", after) == 0
    assert recorder.jobs() == []
    # A late report of progress does not reopen it; a final one is recorded.
    report(RolloutJob.get_by_id(job_b.job_id), "downloading", after)
    assert RolloutJob.get_by_id(job_b.job_id).state == "expired"


def test_unanswered_jobs_are_sent_again(app):
    recorder = Recorder()
    dispatcher = Dispatcher(KEY, recorder)
    config_rollout(["st-a"], [1])
    service.tick(dispatcher, NOW)
    recorder.clear()
    assert (
        service.resend_unanswered(dispatcher, NOW + timedelta(minutes=5), timedelta(minutes=10))
        == 0
    )
    assert (
        service.resend_unanswered(dispatcher, NOW + timedelta(minutes=11), timedelta(minutes=10))
        == 1
    )


def test_targets_and_plans_are_checked(app):
    put_stations("st-a", "st-b")
    plan = service.Plan(
        target=Target("stations", stations=("st-a", "st-zz")),
        wave_sizes=[1],
        deadline=NOW + timedelta(hours=1),
    )
    with pytest.raises(service.RolloutError, match="st-zz"):
        service.create(plan, actor="ops", now=NOW, config=("x", {"sync.window": 10}))
    ok = service.Plan(target=Target("all"), wave_sizes=[1], deadline=NOW + timedelta(hours=1))
    with pytest.raises(service.RolloutError, match="may not be changed"):
        service.create(ok, actor="ops", now=NOW, config=("x", {"broker.host": "evil"}))
    with pytest.raises(TargetError):
        Target.from_json({"kind": "percent", "percent": 0})
    half = service.Plan(
        target=Target("percent", percent=50), wave_sizes=[5], deadline=NOW + timedelta(hours=1)
    )
    rollout = service.create(half, actor="ops", now=NOW, config=("x", {"sync.window": 10}))
    assert RolloutJob.select().where(RolloutJob.rollout == rollout).count() == 1
