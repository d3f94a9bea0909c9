"""The lock file, the release manifest's signature and the station's refusal of altered
artifacts (small artifacts made here; tests/test_update.py installs real ones)."""

from __future__ import annotations

import io
import platform
import tarfile
import tomllib
from datetime import UTC, datetime
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from contract.release import (
    MANIFEST_NAME,
    SIGNATURE_NAME,
    ReleaseError,
    ReleaseFile,
    ReleaseManifest,
    sign_manifest,
    verify_manifest,
)
from device import DISTRIBUTION, __version__
from device.update.artifact import unpack_verified
from devtools.release.lock import LOCK, REPO, pins_for, read_lock

KEY = Ed25519PrivateKey.generate()


def test_the_lock_pins_every_dependency_of_pyproject_within_its_range():
    declared = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["dependencies"]
    pins = {pin.name: pin for pin in read_lock(LOCK)}
    for line in declared:
        requirement = Requirement(line)
        pin = pins.get(canonicalize_name(requirement.name))
        assert pin is not None, f"{requirement.name} is not in {LOCK.name}: run make lock"
        assert requirement.specifier.contains(pin.version, prereleases=True), (
            f"{pin.name}=={pin.version} is outside {requirement.specifier}: run make lock"
        )
        assert all(len(digest) == 64 for digest in pin.hashes)


def test_lgpio_is_locked_for_the_pi_only():
    assert "lgpio" in {pin.name for pin in pins_for("aarch64", "3.11")}
    assert "lgpio" not in {pin.name for pin in pins_for("x86_64", "3.11")}


def test_the_reported_version_is_the_installed_packages():
    from importlib.metadata import version

    assert __version__ == version(DISTRIBUTION)


def _artifact(tmp_path: Path, wheels: dict[str, bytes], *, tamper=None, key=KEY) -> Path:
    import hashlib

    files = tuple(
        ReleaseFile(path=f"wheels/{name}", sha256=hashlib.sha256(data).hexdigest(), size=len(data))
        for name, data in wheels.items()
    )
    manifest = ReleaseManifest(
        package=DISTRIBUTION,
        version="9.9.9",
        arch=platform.machine(),  # type: ignore[arg-type]
        python="3.11",
        created_at=datetime.now(UTC),
        project_wheel=files[0].path,
        files=files,
    )
    manifest_bytes, signature = sign_manifest(manifest, key)
    members = {MANIFEST_NAME: manifest_bytes, SIGNATURE_NAME: signature}
    members.update({f"wheels/{name}": data for name, data in wheels.items()})
    if tamper is not None:
        tamper(members)
    path = tmp_path / "release.tar"
    with tarfile.open(path, "w") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return path


WHEELS = {
    "digital_citizen_station-9.9.9-py3-none-any.whl": b"project",
    "dep-1.0-py3-none-any.whl": b"dep",
}


def test_a_signed_artifact_unpacks_with_every_hash_checked(tmp_path):
    manifest = unpack_verified(_artifact(tmp_path, WHEELS), KEY.public_key(), tmp_path / "s")
    assert manifest.version == "9.9.9"
    assert sorted(p.name for p in (tmp_path / "s" / "wheels").iterdir()) == sorted(WHEELS)


def _wheel_altered(members):
    members["wheels/dep-1.0-py3-none-any.whl"] = b"deq"


def _manifest_altered(members):
    members[MANIFEST_NAME] = members[MANIFEST_NAME].replace(b"9.9.9", b"9.9.8")


def _file_added(members):
    members["wheels/evil-1.0-py3-none-any.whl"] = b"evil"


def _path_escape(members):
    members["../outside.whl"] = b"x"


@pytest.mark.parametrize(
    ("tamper", "message"),
    [
        (_wheel_altered, "altered"),
        (_manifest_altered, "not signed by the fleet's release key"),
        (_file_added, "not a file the signed manifest names"),
        (_path_escape, "not a file the signed manifest names"),
    ],
)
def test_a_tampered_artifact_is_refused_and_nothing_is_left(tmp_path, tamper, message):
    artifact = _artifact(tmp_path, WHEELS, tamper=tamper)
    with pytest.raises(ReleaseError, match=message):
        unpack_verified(artifact, KEY.public_key(), tmp_path / "s")
    assert not (tmp_path / "outside.whl").exists()


def test_another_key_or_none_is_refused(tmp_path):
    artifact = _artifact(tmp_path, WHEELS, key=Ed25519PrivateKey.generate())
    with pytest.raises(ReleaseError, match="not signed"):
        unpack_verified(artifact, KEY.public_key(), tmp_path / "s")
    with pytest.raises(ReleaseError, match="no release key"):
        unpack_verified(artifact, None, tmp_path / "s")


def test_a_manifest_naming_a_path_outside_wheels_is_refused():
    manifest = ReleaseManifest(
        package=DISTRIBUTION,
        version="1",
        arch="x86_64",
        python="3.11",
        created_at=datetime.now(UTC),
        project_wheel="../x.whl",
        files=(ReleaseFile(path="../x.whl", sha256="0" * 64, size=1),),
    )
    data, signature = sign_manifest(manifest, KEY)
    with pytest.raises(ReleaseError, match="outside wheels"):
        verify_manifest(data, signature, KEY.public_key())


def test_the_bundle_carries_the_release_key_and_the_config_reads_it():
    from contract.release import public_key_text
    from device.config import config_from_dict
    from provisioning.bundle import StationPlan, station_toml

    key_text = public_key_text(KEY.public_key())
    plan = StationPlan(station_id="st-a", broker_host="broker", broker_port=8883)
    text = station_toml(StationPlan(**{**plan.__dict__, "release_public_key": key_text}))
    assert tomllib.loads(text)["release_public_key"] == key_text
    config = config_from_dict({**tomllib.loads(text), "kiosk": None})
    assert config.release_public_key == key_text
    assert "release_public_key" not in station_toml(plan)  # none: every release is refused
