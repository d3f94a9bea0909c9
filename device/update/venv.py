"""Build a release's virtualenv from its verified wheelhouse only.

``pip install --no-index --find-links <staging>/wheels --require-hashes``: nothing comes from
a network, and pip checks each wheel once more against the hash in the signed manifest. pip
runs with no configuration file and no ``PIP_*`` variables, so a machine-wide setting cannot
add an index or a find-links directory behind the release's back.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

from packaging.utils import parse_wheel_filename

from contract.release import ReleaseError, ReleaseManifest


def requirements(manifest: ReleaseManifest) -> str:
    """Every wheel of the release pinned to its version and its signed hash."""
    lines = []
    for item in manifest.files:
        name, version, _build, _tags = parse_wheel_filename(Path(item.path).name)
        lines.append(f"{name}=={version} --hash=sha256:{item.sha256}\n")
    return "".join(lines)


def find_python(version: str) -> str:
    """The interpreter the release was built for (``python3.11``), or refuse the release."""
    found = shutil.which(f"python{version}")
    if found is None:
        raise ReleaseError(f"the release needs Python {version}, which this station lacks")
    return found


def _clean_environment() -> dict[str, str]:
    environment = {k: v for k, v in os.environ.items() if not k.startswith("PIP_")}
    environment["PIP_CONFIG_FILE"] = os.devnull
    environment["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
    return environment


def build_venv(python: str, staging: Path, manifest: ReleaseManifest, target: Path) -> None:
    """Create ``target`` as a virtualenv with exactly the release's wheels installed."""
    subprocess.run([python, "-m", "venv", str(target)], check=True, capture_output=True)
    pins = staging / "requirements.txt"
    pins.write_text(requirements(manifest))
    result = subprocess.run(
        [
            str(target / "bin" / "python"),
            "-m",
            "pip",
            "install",
            "--no-index",
            "--find-links",
            str(staging / "wheels"),
            "--require-hashes",
            "--no-cache-dir",
            "--quiet",
            "-r",
            str(pins),
        ],
        capture_output=True,
        text=True,
        env=_clean_environment(),
        check=False,
    )
    if result.returncode != 0:
        raise ReleaseError(f"installing the release's wheels failed: {result.stderr.strip()}")
