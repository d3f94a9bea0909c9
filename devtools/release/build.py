"""Build a signed release artifact: the project's wheel, the locked wheelhouse, the manifest.

The artifact is one uncompressed tar (wheels are zip files already): ``release.json`` and
``release.sig`` first, so the station can check the signature before it reads anything else,
then ``wheels/*.whl``.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib.metadata import PathDistribution
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from contract.release import (
    MANIFEST_NAME,
    SIGNATURE_NAME,
    WHEELS_DIR,
    ReleaseManifest,
    file_entry,
    sign_manifest,
)
from devtools.release.lock import LOCK, REPO, pins_for
from devtools.release.wheelhouse import fill_wheelhouse


class BuildError(RuntimeError):
    """The project's wheel could not be built."""


@dataclass(frozen=True)
class BuildOptions:
    """What to build, for which machine."""

    arch: str
    python: str = "3.11"
    source: Path = REPO
    lock: Path = LOCK
    #: Take the dependency wheels from here instead of the index (an earlier wheelhouse).
    find_links: Path | None = None
    #: Wheels built on a machine of the target's kind, for packages that publish none.
    prebuilt: Path | None = None


#: What a build of the project never needs: setuptools would otherwise build inside the
#: checkout (its ``build/`` directory), where two builds at once trip over each other.
_NOT_SOURCE = shutil.ignore_patterns(
    ".venv",
    ".git",
    "node_modules",
    "build",
    "*.egg-info",
    "__pycache__",
    "var",
    "instance",
    "tests",
    "bench",
    ".ruff_cache",
    ".pytest_cache",
    ".hypothesis",
)


def build_project_wheel(source: Path, out: Path) -> Path:
    """``pip wheel`` of the project at ``source`` (no dependencies) into ``out``, built from
    a clean copy of the source (nothing written into ``source``)."""
    with tempfile.TemporaryDirectory(prefix="dcs-release-src-") as scratch:
        copy = shutil.copytree(source, Path(scratch) / "src", ignore=_NOT_SOURCE)
        result = subprocess.run(
            [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(out), str(copy)],
            capture_output=True,
            text=True,
            check=False,
        )
    wheels = sorted(Path(out).glob("*.whl"))
    if result.returncode != 0 or len(wheels) != 1:
        raise BuildError(f"building the project's wheel failed:\n{result.stderr}")
    return wheels[0]


def wheel_metadata(wheel: Path) -> tuple[str, str]:
    """``(name, version)`` from the wheel's own package metadata (importlib.metadata)."""
    archive = zipfile.Path(wheel)
    info = next(p for p in archive.iterdir() if p.name.endswith(".dist-info"))
    distribution = PathDistribution(info)  # type: ignore[arg-type] - a Traversable works
    return distribution.metadata["Name"], distribution.version


def artifact_name(manifest: ReleaseManifest) -> str:
    """``dcs-station-<version>-<arch>-py<python>.tar``."""
    return f"dcs-station-{manifest.version}-{manifest.arch}-py{manifest.python}.tar"


def build_release(options: BuildOptions, key: Ed25519PrivateKey, out: Path) -> Path:
    """Build, sign and write the artifact into ``out``; returns its path."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="dcs-release-") as scratch:
        root = Path(scratch)
        wheels = root / WHEELS_DIR
        project = build_project_wheel(options.source, root / "project")
        name, version = wheel_metadata(project)
        fill_wheelhouse(
            pins_for(options.arch, options.python, options.lock),
            wheels,
            options.arch,
            options.python,
            find_links=options.find_links,
            prebuilt=options.prebuilt,
        )
        project = project.rename(wheels / project.name)
        files = tuple(
            file_entry(root, path.relative_to(root).as_posix())
            for path in sorted(wheels.glob("*.whl"))
        )
        manifest = ReleaseManifest(
            package=name,
            version=version,
            arch=options.arch,  # type: ignore[arg-type] - checked by the CLI's choice
            python=options.python,
            created_at=datetime.now(UTC),
            project_wheel=f"{WHEELS_DIR}/{project.name}",
            files=files,
        )
        manifest_bytes, signature = sign_manifest(manifest, key)
        (root / MANIFEST_NAME).write_bytes(manifest_bytes)
        (root / SIGNATURE_NAME).write_bytes(signature)
        artifact = out / artifact_name(manifest)
        partial = artifact.with_suffix(".tar.partial")
        with tarfile.open(partial, "w", format=tarfile.PAX_FORMAT) as tar:
            for relative in (MANIFEST_NAME, SIGNATURE_NAME, *(f.path for f in files)):
                tar.add(root / relative, arcname=relative, recursive=False)
        partial.replace(artifact)
    return artifact
