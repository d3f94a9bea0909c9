"""The update agent: the remote override, the resumable file, and a download cut by a restart.

The agent runs end to end with real daemons in tests/test_update_e2e.py.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import platform
from datetime import timedelta
from pathlib import Path

import msgspec
import pytest

from contract.rollout import ConfigChange
from device.config import load_config
from device.config_override import override_path, write_override
from device.station import build_station
from device.update.agent import UpdateOptions
from device.update.download import BlockFile, DownloadError
from device.update.layout import Layout
from sync_server import broker_settings, create_app
from sync_server.db import database, utc_now
from sync_server.rollouts import releases, service
from sync_server.rollouts.manifest import release_public_key
from sync_server.rollouts.models import RolloutJob
from sync_server.rollouts.store import FileStore
from sync_server.rollouts.targets import Target
from sync_server.rollouts.worker import RolloutWorker
from tests.conftest import SERVER_SIGNING_KEY, server_config, station_config
from tests.helpers import wait_until
from tests.release_fixtures import station_toml
from tests.rollout_fixtures import RELEASE_PUBLIC, make_artifact, put_stations

BASE = """
station_id = "st-a"
data_dir = "{data}"
secrets_dir = "{data}/secrets"

[sync]
window = 64
"""


def _config(tmp_path, extra: str = ""):
    path = tmp_path / "station.toml"
    path.write_text(BASE.format(data=tmp_path / "data") + extra)
    return path


def test_an_override_changes_only_allowlisted_settings(tmp_path):
    path = _config(tmp_path)
    assert load_config(path).sync.heartbeat_interval_s == 30.0
    write_override(
        tmp_path / "data",
        ConfigChange(
            settings={"sync.heartbeat_interval_s": 7, "kiosk.idle_timeout_s": 60}, label="t1"
        ),
    )
    config = load_config(path)
    assert config.sync.heartbeat_interval_s == 7.0
    assert config.sync.window == 64  # the rest of the section is the TOML's
    assert config.kiosk is None  # a kiosk setting does not make a headless station a kiosk
    with_kiosk = _config(tmp_path, "\n[kiosk]\nport = 0\n")
    assert load_config(with_kiosk).kiosk.idle_timeout_s == 60.0
    write_override(tmp_path / "data", None)
    assert load_config(path).sync.heartbeat_interval_s == 30.0


def test_an_override_edited_on_the_card_cannot_reach_the_broker_or_identity(tmp_path):
    path = _config(tmp_path)
    override_path(tmp_path / "data").parent.mkdir(parents=True)
    override_path(tmp_path / "data").write_text(
        json.dumps({"label": "evil", "settings": {"broker.host": "203.0.113.9", "sync.window": 5}})
    )
    config = load_config(path)
    assert config.broker.host == "127.0.0.1" and config.sync.window == 64  # ignored whole
    assert config.station_id == "st-a"


def test_a_file_fetched_by_blocks_resumes_from_its_map_and_is_checked(tmp_path):
    data = os.urandom(5 * 1024 + 100)
    file_id = hashlib.sha256(data).hexdigest()
    blocks = BlockFile(tmp_path / "partial", file_id, len(data), 1024)
    assert blocks.missing() == [0, 1, 2, 3, 4, 5]
    for index in (0, 2, 5):
        assert blocks.write(index, data[index * 1024 : (index + 1) * 1024])
    assert not blocks.write(1, b"short")  # not the size block 1 has: ignored
    blocks.checkpoint()
    blocks.write(3, data[3 * 1024 : 4 * 1024])  # written but not checkpointed: a power cut
    blocks.close()
    again = BlockFile(tmp_path / "partial", file_id, len(data), 1024)
    assert again.missing() == [1, 3, 4]
    assert again.done_bytes() == 2 * 1024 + 100
    for index in again.missing():
        again.write(index, data[index * 1024 : (index + 1) * 1024])
    target = again.finish(tmp_path / "files" / file_id)
    assert target.read_bytes() == data and not (tmp_path / "partial" / f"{file_id}.map").exists()
    # A block size that differs from the saved map's starts over rather than mixing blocks.
    assert BlockFile(tmp_path / "p2", file_id, len(data), 2048).missing() == [0, 1, 2]


def test_a_file_whose_bytes_do_not_match_its_id_is_thrown_away(tmp_path):
    data = os.urandom(2048)
    blocks = BlockFile(tmp_path, "0" * 64, len(data), 1024)
    blocks.write(0, data[:1024])
    blocks.write(1, data[1024:])
    with pytest.raises(DownloadError, match="does not match its hash"):
        blocks.finish(tmp_path / "files" / ("0" * 64))
    assert not (tmp_path / f"{'0' * 64}.part").exists()


def test_a_download_cut_by_a_daemon_restart_resumes_and_the_installer_s_verdict_is_reported(
    sqlite_url, broker, tmp_path
):
    """The real agent in a station (as the daemon builds it), the real worker and broker.

    The daemon stops (and the server with it) after a quarter of a 32 MB file; the next daemon
    fetches only the rest. The release is random bytes under a wheel's name, so the installer
    (the real ``dcs-station update install``, handed the assembled artifact) refuses to build
    it, and that verdict is what the station reports.
    """
    app = create_app(
        server_config(sqlite_url, broker)
        | {"RELEASE_PUBLIC_KEY": RELEASE_PUBLIC, "RELEASES_DIR": str(tmp_path / "releases")}
    )
    size = 32 * 1024 * 1024
    with database.connection_context():
        release = releases.upload(
            make_artifact(tmp_path / "artifact", sizes=(size,), arch=platform.machine()),
            public_key=release_public_key(RELEASE_PUBLIC),
            store=FileStore(tmp_path / "releases"),
            actor="ops",
        )
        put_stations("st-a")
        rollout = service.create(
            service.Plan(
                target=Target("stations", stations=("st-a",)),
                wave_sizes=[1],
                deadline=utc_now() + timedelta(hours=1),
            ),
            actor="ops",
            now=utc_now(),
            release=release,
        )
    (job,) = RolloutJob.select().where(RolloutJob.rollout == rollout.rollout_id)
    config = station_config(tmp_path, broker, "st-a")
    config_file = tmp_path / "station.toml"
    config_file.write_text(station_toml(config, RELEASE_PUBLIC))
    config = load_config(config_file)  # with the release key, as the daemon reads it
    root = tmp_path / "root"
    (root / "releases" / "0.1.0").mkdir(parents=True)
    Layout(root).switch("0.1.0")
    options = UpdateOptions(config_file, root, "supervisor", unsigned_config=True)
    partial_map = Path(config.data_dir) / "update" / "partial" / f"{_wheel_id(release)}.map"

    def worker() -> RolloutWorker:
        started = RolloutWorker(
            database.obj, broker_settings(app.config), SERVER_SIGNING_KEY, tmp_path / "releases",
            tick_s=0.2,
        ).start()  # fmt: skip
        wait_until(started.connected.is_set, "the worker to connect")
        return started

    first = worker()
    station = build_station(config, updates=options).start()
    try:
        wait_until(lambda: _blocks_on_disk(partial_map) >= 256, "a quarter of the file", 60)
        first.stop()  # nothing more is served...
        station.close()  # ...and the daemon stops mid-download
        before = _blocks_on_disk(partial_map)
        assert 256 <= before < 1024
        station = build_station(config, updates=options).start()
        second = worker()
        try:
            with database.connection_context():
                wait_until(
                    lambda: RolloutJob.get_by_id(job.job_id).state == "failed",
                    "the installer's verdict",
                    180,
                )
                final = RolloutJob.get_by_id(job.job_id)
        finally:
            second.stop()
    finally:
        station.close()
        database.close()
    assert final.reason.startswith("0.2.0 not installed")
    # Resumed: the blocks already on disk were not fetched again (a run in flight at the
    # stop may have been).
    assert final.bytes_served <= release.total_bytes + 2 * 64 * 32 * 1024
    assert final.bytes_served < release.total_bytes + before * 32 * 1024
    assert Layout(root).current_version() == "0.1.0"


def _wheel_id(release) -> str:
    return next(f.file_id for f in release.files if f.name.startswith("wheels/"))


def _blocks_on_disk(map_path: Path) -> int:
    try:
        saved = msgspec.json.decode(map_path.read_bytes())
    except (OSError, msgspec.DecodeError):
        return 0
    return sum(bin(byte).count("1") for byte in base64.b64decode(saved["have"]))
