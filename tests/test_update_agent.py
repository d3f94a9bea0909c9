"""The update agent's parts without processes: the remote override and the resumable file.

The agent itself runs end to end in tests/test_update_e2e.py (real daemons, broker, server).
"""

from __future__ import annotations

import hashlib
import json
import os

import pytest

from contract.rollout import ConfigChange
from device.config import load_config
from device.config_override import override_path, write_override
from device.update.download import BlockFile, DownloadError

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
