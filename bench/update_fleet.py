"""A rollout to 50 stations: from ``create`` to every station committed, with the real delivery.

The server side is the real one: the release registry (``releases.upload`` of the signed
artifact), ``service.create`` with the CLI's default waves (1, then 10 at a time), the
rollout worker (``RolloutWorker``: signed jobs, blocks from the file store, progress), a real
Mosquitto with TLS and the generated ACL. Each of the 50 stations is simulated: its own MQTT
connection and certificate, the job's signature checked, and the **station's own download
code** (``device.update.download.Fetcher``: runs of 64 blocks, bitmaps, fsynced partial
files, each file checked against its SHA-256) fetching the manifest and every wheel, the
manifest verified with the release key; then it reports the installer's states and
``committed`` at once. The real installer (a virtualenv of 53 wheels, 15-20 s of CPU and
disk per station) is too heavy to run 50 times on one machine; its time is the ``install``
row, measured on its own.

Baseline in the same run: the same bytes published raw, 32 KiB QoS 1 messages on one topic,
to 50 subscribers of the same broker (no jobs, no requests, no JSON, no checks, no waves).
"""

from __future__ import annotations

import hashlib
import queue
import shutil
import tempfile
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from contract import Channel, decode, encode, station_topic
from contract.release import public_key_text, verify_manifest
from contract.rollout import Job, JobProgress, verify_job
from contract.transport import QOS, connect_properties, new_client
from device.update.download import Fetcher
from devtools.broker import LocalBroker
from provisioning.broker import SERVER_USER, BrokerLimits
from provisioning.pki import CertificateAuthority

BLOCK = 32 * 1024
_AFTER_DOWNLOAD = ("verifying", "installing", "switching", "health_check", "committed")


class _SimStation:
    """One simulated station around the real ``Fetcher`` (see the module docstring)."""

    def __init__(self, station_id: str, broker: LocalBroker, server_key, release_key, work: Path):
        self.station_id = station_id
        self.server_key, self.release_key = server_key, release_key
        self.work = work
        self.jobs: queue.Queue[bytes] = queue.Queue()
        self.connected = threading.Event()
        self.error: str | None = None
        client = new_client(station_id, broker.settings_for(station_id))
        client.on_connect = self._on_connect
        client.on_message = self._on_message
        client.max_inflight_messages_set(100)
        self.client = client
        self.fetcher = Fetcher(station_id, self._publish)
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._host, self._port = broker.host, broker.port

    def _publish(self, channel: Channel, payload: bytes) -> None:
        self.client.publish(station_topic(self.station_id, channel), payload, qos=QOS)

    def start(self) -> None:
        self.client.connect_async(
            self._host, self._port, clean_start=False, properties=connect_properties()
        )
        self.client.loop_start()
        self._thread.start()

    def stop(self) -> None:
        self.jobs.put(b"")
        self.client.disconnect()
        self.client.loop_stop()

    def _on_connect(self, client, userdata, flags, reason_code, properties) -> None:
        client.subscribe(
            [
                (station_topic(self.station_id, Channel.JOB), QOS),
                (station_topic(self.station_id, Channel.FILE_BLOCK), QOS),
            ]
        )
        self.connected.set()

    def _on_message(self, client, userdata, message) -> None:
        if message.topic.endswith("/job"):
            self.jobs.put(message.payload)
        else:
            self.fetcher.on_message(message.payload)

    def _report(self, job: Job, state: str) -> None:
        progress = JobProgress(
            job_id=job.job_id,
            station_id=self.station_id,
            state=state,
            version=job.release.version if state == "committed" and job.release else "0.1.0",
            station_time=datetime.now(UTC),
        )
        self._publish(Channel.JOB_PROGRESS, encode(progress))

    def _run(self) -> None:
        seen: set[str] = set()
        while payload := self.jobs.get():
            job = decode(payload, Job)
            if job.job_id in seen:
                continue
            seen.add(job.job_id)
            try:
                verify_job(payload, job, station_id=self.station_id, server_public=self.server_key)
                self._install(job)
            except Exception as exc:  # a bench station that fails says why, once
                self.error = f"{type(exc).__name__}: {exc}"
                self._report(job, "failed")

    def _install(self, job: Job) -> None:
        spec = job.release
        assert spec is not None
        self._report(job, "downloading")
        never = threading.Event()
        partial, files = self.work / "partial", self.work / "files"

        def fetch(file_id: str, size: int) -> Path:
            return self.fetcher.fetch(
                job.job_id, file_id, size, spec.block_size, partial, files / file_id,
                cancelled=never,
            )  # fmt: skip

        manifest = verify_manifest(
            fetch(spec.manifest.file_id, spec.manifest.size).read_bytes(),
            spec.manifest_signature,
            self.release_key,
        )
        for item in manifest.files:
            fetch(item.sha256, item.size).unlink()  # checked against its hash; not installed
        for state in _AFTER_DOWNLOAD:
            self._report(job, state)


def _raw_baseline(broker: LocalBroker, data: bytes, subscribers: list[str]) -> float:
    """Seconds to publish ``data`` in 32 KiB QoS 1 messages to every subscriber."""
    expected = -(-len(data) // BLOCK)
    counts = dict.fromkeys(subscribers, 0)
    done = threading.Event()
    lock = threading.Lock()
    clients = []
    ready = threading.Barrier(len(subscribers) + 1)
    topic = "dcs/v1/stations/{}/file/block"

    for station_id in subscribers:

        def on_message(client, userdata, message, station_id=station_id) -> None:
            with lock:
                counts[station_id] += 1
                if all(count >= expected for count in counts.values()):
                    done.set()

        client = new_client(station_id, broker.settings_for(station_id))
        client.on_message = on_message
        client.on_subscribe = lambda *args: ready.wait()
        client.connect(broker.host, broker.port, clean_start=True)
        client.loop_start()
        client.subscribe(topic.format(station_id), QOS)
        clients.append(client)
    publisher = new_client(SERVER_USER, broker.settings_for(SERVER_USER))
    publisher.max_inflight_messages_set(1000)
    publisher.connect(broker.host, broker.port)
    publisher.loop_start()
    ready.wait()
    started = time.monotonic()
    for station_id in subscribers:
        for offset in range(0, len(data), BLOCK):
            publisher.publish(topic.format(station_id), data[offset : offset + BLOCK], qos=QOS)
    done.wait(1800)
    elapsed = time.monotonic() - started
    for client in [*clients, publisher]:
        client.disconnect()
        client.loop_stop()
    return elapsed


def fleet_rollout(
    artifact: Path, key: Ed25519PrivateKey, stations: int
) -> tuple[float, float, int]:
    """``(rollout seconds, raw publish seconds, bytes per station)`` for ``stations`` stations."""
    from sync_server import broker_settings, create_app
    from sync_server.db import database, utc_now
    from sync_server.fleet.models import Station
    from sync_server.migrations import upgrade_url
    from sync_server.replicas.keys import load_or_create_signing_key
    from sync_server.rollouts import releases, service
    from sync_server.rollouts.manifest import release_public_key
    from sync_server.rollouts.models import Rollout, RolloutJob
    from sync_server.rollouts.store import FileStore
    from sync_server.rollouts.targets import Target
    from sync_server.rollouts.worker import RolloutWorker

    ids = [f"bench-{number:02d}" for number in range(stations)]
    with tempfile.TemporaryDirectory(prefix="bench-rollout-") as scratch:
        base = Path(scratch)
        ca = CertificateAuthority.init(base / "ca", b"bench-rollout-ca")
        broker = LocalBroker(limits=BrokerLimits(), ca=ca)
        broker.add_user(SERVER_USER)
        for station_id in ids:
            broker.add_user(station_id)
        broker.start()
        sims: list[_SimStation] = []
        worker = None
        try:
            signing = load_or_create_signing_key(base / "signing.key")
            app = create_app(
                {
                    "TESTING": True,
                    "SECRET_KEY": "bench-only-secret",
                    "DATABASE_URL": upgrade_url(f"sqlite:///{base / 'server.sqlite3'}"),
                    "REPLICA_SIGNING_KEY_FILE": str(base / "signing.key"),
                    "RELEASE_PUBLIC_KEY": public_key_text(key.public_key()),
                    **broker.server_config(),
                }
            )
            with database.connection_context():
                release = releases.upload(
                    artifact,
                    public_key=release_public_key(app.config["RELEASE_PUBLIC_KEY"]),
                    store=FileStore(base / "releases"),
                    actor="bench",
                )
                per_station = release.total_bytes
                for station_id in ids:
                    Station.insert(station_id=station_id, presence="online").execute()
            for station_id in ids:
                sim = _SimStation(
                    station_id, broker, signing.public_key(), key.public_key(), base / station_id
                )
                sim.start()
                sims.append(sim)
            for sim in sims:
                sim.connected.wait(30)
            worker = RolloutWorker(
                database.obj,
                broker_settings(app.config),
                signing,
                base / "releases",
                tick_s=float(app.config["ROLLOUT_TICK_S"]),
            ).start()
            worker.connected.wait(30)
            with database.connection_context():
                started = time.monotonic()
                rollout = service.create(
                    service.Plan(
                        target=Target("stations", stations=tuple(ids)),
                        wave_sizes=[1, 10],
                        deadline=utc_now() + timedelta(hours=2),
                    ),
                    actor="bench",
                    now=utc_now(),
                    release=release,
                )
                while Rollout.get_by_id(rollout.rollout_id).state == "running":
                    time.sleep(0.2)
                rollout_s = time.monotonic() - started
                state = Rollout.get_by_id(rollout.rollout_id).state
                committed = (
                    RolloutJob.select()
                    .where((RolloutJob.rollout == rollout) & (RolloutJob.state == "committed"))
                    .count()
                )
            errors = [sim.error for sim in sims if sim.error]
            assert state == "completed" and committed == stations, (state, committed, errors[:3])
            worker.stop()
            worker = None
            for sim in sims:
                sim.stop()
            sims = []
            data = b"".join(
                path.read_bytes()
                for path in sorted((base / "releases").rglob("*"))
                if path.is_file()
            )
            assert len(data) == per_station, (len(data), per_station)
            hashlib.sha256(data)  # the same bytes, read once before the clock starts
            raw_s = _raw_baseline(broker, data, ids)
        finally:
            if worker is not None:
                worker.stop()
            for sim in sims:
                sim.stop()
            database.close()
            broker.cleanup()
            shutil.rmtree(base, ignore_errors=True)
    return rollout_s, raw_s, per_station
