"""Building, signing and sending the contract's :class:`contract.rollout.Job` messages.

Jobs are signed with the server's Ed25519 key, the one that signs commands and replica
parts (stations hold its public half); the context ``dcs/v1 job`` keeps a job signature
from passing as either. A release job carries the release key's signature of the manifest
as well: the station checks both.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from contract import Channel, encode, station_topic
from contract.rollout import ConfigChange, Job, JobFile, ReleaseSpec, sign_job
from sync_server.rollouts.models import Release, Rollout, RolloutJob

#: ``publish(topic, payload)`` at QoS 1.
Publisher = Callable[[str, bytes], None]

#: A rollback reaches a station at least this long after its wave aborted.
ROLLBACK_TTL = timedelta(days=7)


def aware(value: datetime) -> datetime:
    """A stored time as an aware UTC time (PostgreSQL and SQLite read back naive)."""
    return value if value.tzinfo else value.replace(tzinfo=UTC)


@dataclass
class Dispatcher:
    """Signs jobs and hands them to the broker."""

    signing_key: Ed25519PrivateKey
    publish: Publisher

    def send(self, job: Job) -> None:
        """Sign ``job`` and publish it on its station's ``job`` topic."""
        signed = sign_job(job, self.signing_key)
        self.publish(station_topic(job.station_id, Channel.JOB), encode(signed))


def config_change(rollout: Rollout) -> ConfigChange:
    """The stored configuration change of a ``config`` rollout."""
    data = json.loads(rollout.config)
    return ConfigChange(settings=data["settings"], label=data["label"])


def release_spec(release: Release) -> ReleaseSpec:
    """What a station needs to fetch and check a release."""
    return ReleaseSpec(
        version=release.version,
        manifest=JobFile(file_id=release.manifest_id, size=release.manifest_size),
        manifest_signature=bytes(release.manifest_signature),
    )


def job_for(row: RolloutJob, rollout: Rollout, now: datetime) -> Job:
    """The job message of one station's job."""
    parts: dict[str, object] = {}
    if rollout.kind == "release":
        parts["release"] = release_spec(rollout.release)
    else:
        parts["config"] = config_change(rollout)
    return Job(
        job_id=row.job_id,
        station_id=row.station_id,
        rollout_id=rollout.rollout_id,
        kind=rollout.kind,
        issued_at=now,
        deadline=aware(rollout.deadline),
        health_timeout_s=rollout.health_timeout_s,
        **parts,
    )


def rollback_for(row: RolloutJob, rollout: Rollout, now: datetime) -> Job:
    """The rollback job undoing ``row``'s job on its station."""
    assert row.rollback_job_id is not None
    return Job(
        job_id=row.rollback_job_id,
        station_id=row.station_id,
        rollout_id=rollout.rollout_id,
        kind="rollback",
        issued_at=now,
        deadline=max(aware(rollout.deadline), now + ROLLBACK_TTL),
        health_timeout_s=rollout.health_timeout_s,
        target_job_id=row.job_id,
    )
