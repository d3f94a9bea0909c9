"""The lock file (requirements/station.lock): every runtime dependency pinned, with hashes.

It is compiled by ``uv pip compile pyproject.toml --universal --python-version 3.11
--generate-hashes -o requirements/station.lock`` (see ``make lock``): one universal file whose
environment markers say which pins apply where (``lgpio`` only on aarch64). :func:`pins_for`
evaluates the markers for the *target* machine, not the one building — pip would evaluate them
for the build machine even when told ``--platform``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from packaging.markers import Marker
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

REPO = Path(__file__).resolve().parents[2]
LOCK = REPO / "requirements" / "station.lock"


@dataclass(frozen=True)
class Pin:
    """One locked requirement: ``name==version`` with the hashes of its files."""

    name: str
    version: str
    marker: Marker | None
    hashes: tuple[str, ...]

    def line(self) -> str:
        """The pin as a ``--require-hashes`` requirements line (no marker: already applied)."""
        hashes = " ".join(f"--hash=sha256:{digest}" for digest in self.hashes)
        return f"{self.name}=={self.version} {hashes}"


def read_lock(path: Path = LOCK) -> list[Pin]:
    """Parse the lock: continuation lines joined, comments dropped; every pin needs hashes."""
    pins: list[Pin] = []
    pending = ""
    for raw in Path(path).read_text().splitlines():
        line = raw.split(" #", 1)[0].strip() if not raw.lstrip().startswith("#") else ""
        if not line:
            continue
        pending += " " + line.rstrip("\\").strip()
        if line.endswith("\\"):
            continue
        words = pending.split()
        pending = ""
        hashes = tuple(w.removeprefix("--hash=sha256:") for w in words if w.startswith("--hash="))
        requirement = Requirement(" ".join(w for w in words if not w.startswith("--hash=")))
        specifiers = list(requirement.specifier)
        if len(specifiers) != 1 or specifiers[0].operator != "==" or not hashes:
            raise ValueError(f"{path}: {requirement} is not pinned with hashes")
        pins.append(
            Pin(
                canonicalize_name(requirement.name),
                specifiers[0].version,
                requirement.marker,
                hashes,
            )
        )
    return pins


def target_environment(arch: str, python: str) -> dict[str, str]:
    """The marker variables of a Linux CPython ``python`` on ``arch`` (a station)."""
    return {
        "implementation_name": "cpython",
        "platform_python_implementation": "CPython",
        "platform_machine": arch,
        "platform_system": "Linux",
        "sys_platform": "linux",
        "os_name": "posix",
        "python_version": python,
        "python_full_version": f"{python}.0",
    }


def pins_for(arch: str, python: str, path: Path = LOCK) -> list[Pin]:
    """The pins that apply to a station of ``arch`` running ``python``."""
    environment = target_environment(arch, python)
    return [
        pin for pin in read_lock(path) if pin.marker is None or pin.marker.evaluate(environment)
    ]
