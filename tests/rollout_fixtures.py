"""Helpers for the rollout tests: a signed release artifact, stations on record, a recorder.

``make_artifact`` writes what ``dcs-release build`` leaves (release.json, release.sig over
the release context and the manifest, the wheels), signed with a test release key; the
files' bytes are random so a block that comes back wrong is caught.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from contract import decode
from contract.release import signed_bytes
from contract.rollout import Job
from sync_server.db import database
from sync_server.fleet.models import Station
from sync_server.replicas.keys import public_key_text

NOW = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
RELEASE_KEY = Ed25519PrivateKey.generate()
RELEASE_PUBLIC = public_key_text(RELEASE_KEY)


def make_artifact(
    directory: Path,
    version: str = "0.2.0",
    sizes: tuple[int, ...] = (70_000, 1_000),
    key: Ed25519PrivateKey = RELEASE_KEY,
    arch: str = "aarch64",
) -> Path:
    """A signed release artifact in ``directory``; returns it."""
    directory.mkdir(parents=True, exist_ok=True)
    files = []
    for number, size in enumerate(sizes):
        name = f"wheels/pkg{number}-{version}-py3-none-any.whl"
        data = os.urandom(size)
        (directory / name).parent.mkdir(parents=True, exist_ok=True)
        (directory / name).write_bytes(data)
        files.append({"path": name, "sha256": hashlib.sha256(data).hexdigest(), "size": size})
    manifest = json.dumps(
        {
            "format": 1,
            "package": "digital-citizen-station",
            "version": version,
            "arch": arch,
            "python": "3.11",
            "created_at": "2026-12-01T09:00:00+00:00",
            "project_wheel": files[0]["path"],
            "files": files,
        },
        sort_keys=True,
        separators=(",", ":"),
    ).encode()
    (directory / "release.json").write_bytes(manifest)
    (directory / "release.sig").write_bytes(key.sign(signed_bytes(manifest)))
    return directory


def put_stations(*station_ids: str, presence: str = "online") -> None:
    """Stations the server has heard of."""
    with database.connection_context():
        for station_id in station_ids:
            Station.insert(
                station_id=station_id, presence=presence, presence_at=NOW - timedelta(hours=1)
            ).on_conflict_ignore().execute()


@dataclass
class Recorder:
    """A publisher that keeps what would have gone to the broker."""

    sent: list[tuple[str, bytes]] = field(default_factory=list)

    def __call__(self, topic: str, payload: bytes) -> None:
        self.sent.append((topic, payload))

    def jobs(self) -> list[Job]:
        """The jobs published, in order."""
        return [decode(payload, Job) for topic, payload in self.sent if topic.endswith("/job")]

    def clear(self) -> None:
        """Forget what was recorded."""
        self.sent.clear()
