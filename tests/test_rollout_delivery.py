"""File delivery over a real Mosquitto: resumable blocks, refusals, signed uploads only."""

from __future__ import annotations

import hashlib
import json
import threading
from datetime import timedelta
from pathlib import Path

import pytest

from contract import Channel, station_topic
from contract.transport import new_client
from sync_server import broker_settings, create_app
from sync_server.db import database, utc_now
from sync_server.rollouts import releases, service
from sync_server.rollouts.manifest import release_public_key
from sync_server.rollouts.models import Release, RolloutJob
from sync_server.rollouts.store import FileStore
from sync_server.rollouts.targets import Target
from sync_server.rollouts.worker import RolloutWorker
from tests.conftest import SERVER_SIGNING_KEY, server_config
from tests.helpers import wait_until
from tests.rollout_fixtures import RELEASE_PUBLIC, make_artifact, put_stations
from tests.sim_station import SimStation

BLOCK = 32 * 1024
BIG = 600_000  # 19 blocks


@pytest.fixture
def app(sqlite_url, broker, tmp_path):
    app = create_app(
        server_config(sqlite_url, broker)
        | {"RELEASE_PUBLIC_KEY": RELEASE_PUBLIC, "RELEASES_DIR": str(tmp_path / "releases")}
    )
    with database.connection_context():
        yield app
    database.close()


def upload(app, artifact: Path) -> Release:
    return releases.upload(
        artifact,
        public_key=release_public_key(app.config["RELEASE_PUBLIC_KEY"]),
        store=FileStore(Path(app.config["RELEASES_DIR"])),
        actor="ops",
    )


def test_unsigned_or_changed_releases_are_refused(app, tmp_path):
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    forged = make_artifact(tmp_path / "forged", key=Ed25519PrivateKey.generate())
    with pytest.raises(releases.ReleaseError, match="not signed by the fleet's release key"):
        upload(app, forged)
    changed = make_artifact(tmp_path / "changed", version="0.3.0")
    wheel = next((changed / "wheels").iterdir())
    wheel.write_bytes(b"\x00" + wheel.read_bytes()[1:])
    with pytest.raises(releases.ReleaseError, match="SHA-256"):
        upload(app, changed)
    # A manifest edited after signing (another version) fails the signature.
    edited = make_artifact(tmp_path / "edited", version="0.4.0")
    manifest = json.loads((edited / "release.json").read_bytes())
    manifest["version"] = "9.9.9"
    (edited / "release.json").write_text(json.dumps(manifest, sort_keys=True))
    with pytest.raises(releases.ReleaseError, match="not signed"):
        upload(app, edited)
    assert Release.select().count() == 0
    assert not any(Path(app.config["RELEASES_DIR"]).rglob("*")) or all(
        p.is_dir() for p in Path(app.config["RELEASES_DIR"]).rglob("*")
    )
    release = upload(app, make_artifact(tmp_path / "good", version="0.5.0"))
    assert release.version == "0.5.0" and len(list(release.files)) == 3
    with pytest.raises(releases.ReleaseError, match="already registered"):
        upload(app, make_artifact(tmp_path / "again", version="0.5.0"))


def test_blocks_resume_after_a_broker_restart_and_foreign_requests_are_refused(
    app, broker, tmp_path
):
    release = upload(app, make_artifact(tmp_path / "artifact", sizes=(BIG,)))
    (big,) = [f for f in release.files if f.size == BIG]
    put_stations("st-a", "st-b")
    rollout = service.create(
        service.Plan(
            target=Target("stations", stations=("st-a", "st-b")),
            wave_sizes=[2],
            deadline=utc_now() + timedelta(hours=1),
        ),
        actor="ops",
        now=utc_now(),
        release=release,
    )
    worker = RolloutWorker(
        database.obj,
        broker_settings(app.config),
        SERVER_SIGNING_KEY,
        Path(app.config["RELEASES_DIR"]),
        tick_s=0.2,
        bytes_factor=1.0,
    )
    stations = {
        sid: SimStation(sid, broker.settings_for(sid), SERVER_SIGNING_KEY.public_key()).start()
        for sid in ("st-a", "st-b")
    }
    eavesdropper = new_client("st-c", broker.settings_for("st-c"))
    try:
        for station in stations.values():
            wait_until(station.connected.is_set, "the station to connect")
        worker.start()
        wait_until(worker.connected.is_set, "the worker to connect")
        a, b = stations["st-a"], stations["st-b"]
        job_a = a.jobs.get(timeout=20)
        job_b = b.jobs.get(timeout=20)
        assert job_a.release is not None and job_a.release.version == "0.2.0"
        a.report(job_a, "downloading")

        # The manifest first: one block, and its hash is the file id the job names.
        manifest_id = job_a.release.manifest.file_id
        a.request(job_a.job_id, manifest_id, 0, 64)
        assert a.wait(lambda: not a.missing(manifest_id, job_a.release.manifest.size))
        manifest = a.assembled(manifest_id, job_a.release.manifest.size)
        assert hashlib.sha256(manifest).hexdigest() == manifest_id

        # Half the big file, then the broker goes away and comes back.
        a.request(job_a.job_id, big.file_id, 0, 8)
        assert a.wait(lambda: len(a.blocks.get(big.file_id, {})) == 8)
        broker.restart()
        wait_until(lambda: a.connected.is_set() and worker.connected.is_set(), "reconnects")
        # st-c's certificate, listening on st-a's job and block topics: the ACL gives it nothing.
        overheard: list[str] = []
        subscribed = threading.Event()
        eavesdropper.on_message = lambda client, userdata, message: overheard.append(message.topic)
        eavesdropper.on_subscribe = lambda *args: subscribed.set()
        eavesdropper.connect(broker.host, broker.port)
        eavesdropper.loop_start()
        eavesdropper.subscribe(
            [(station_topic("st-a", channel), 1) for channel in (Channel.JOB, Channel.FILE_BLOCK)]
        )
        assert subscribed.wait(10)
        missing = a.missing(big.file_id, BIG)
        assert len(missing) == 19 - 8
        a.request(job_a.job_id, big.file_id, 0, 64, missing=missing)
        assert a.wait(lambda: not a.missing(big.file_id, BIG))
        assert hashlib.sha256(a.assembled(big.file_id, BIG)).hexdigest() == big.file_id
        served = RolloutJob.get_by_id(job_a.job_id).bytes_served
        assert served == BIG + job_a.release.manifest.size  # nothing was sent twice

        # st-b asks for the file under st-a's job, then in st-a's name: refused both times.
        b.request(job_a.job_id, big.file_id, 0, 4)
        b.request(job_a.job_id, big.file_id, 0, 4, station_id="st-a")
        assert b.wait(lambda: len(b.refusals) == 2)
        assert {r.reason for r in b.refusals} == {"not_addressed"}
        assert big.file_id not in b.blocks
        # A file of no release of its job is refused as well.
        b.request(job_b.job_id, "0" * 64, 0, 4)
        assert b.wait(lambda: len(b.refusals) == 3)
        assert b.refusals[-1].reason == "not_addressed"

        # st-b fetches its own file again and again: past the byte budget it is refused.
        for round_ in range(3):  # noqa: B007 - checked after the loop
            b.blocks.pop(big.file_id, None)
            b.request(job_b.job_id, big.file_id, 0, 64)
            b.wait(lambda: not b.missing(big.file_id, BIG) or len(b.refusals) > 3)
            if len(b.refusals) > 3:
                break
        assert b.refusals[-1].reason == "budget_exhausted" and round_ == 2
        assert RolloutJob.get_by_id(job_b.job_id).bytes_served <= release.total_bytes + (1 << 20)

        # Reports reach the server: st-a commits.
        a.report(job_a, "committed", version="0.2.0")
        wait_until(lambda: RolloutJob.get_by_id(job_a.job_id).state == "committed", "st-a's report")
        assert rollout.rollout_id
        # Nothing of st-a's reached st-c, and st-c cannot hand st-a a job of its own making.
        forged = eavesdropper.publish(station_topic("st-a", Channel.JOB), b"{}", qos=1)
        forged.wait_for_publish(10)
        assert overheard == []
        assert a.jobs.empty() and a.rejected == []
    finally:
        eavesdropper.disconnect()
        eavesdropper.loop_stop()
        worker.stop()
        for station in stations.values():
            station.stop()
