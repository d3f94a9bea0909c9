"""Every locked dependency of a target machine as wheels, checked against the lock's hashes.

``pip download --only-binary=:all: --platform ... --python-version ... --require-hashes``
fetches the wheels for the target (cross-architecture works: nothing is installed here). A
locked package that publishes no wheel for Linux (pyscard ships only an sdist) is built from
its hash-checked sdist when the target is this very machine, or taken from ``prebuilt`` —
wheels built on a machine of the target's kind (``pip wheel pyscard==2.3.1`` on a Pi).
"""

from __future__ import annotations

import hashlib
import platform
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from packaging.utils import canonicalize_name, parse_wheel_filename

from devtools.release.lock import Pin

#: glibc versions a station's OS may have (Debian 12 / Pi OS bookworm: 2.36; trixie: 2.41).
_GLIBC = ("2_17", "2_24", "2_28", "2_31", "2_34", "2_35", "2_36")


class WheelhouseError(RuntimeError):
    """A locked dependency has no wheel for the target and none could be built."""


def platform_tags(arch: str) -> list[str]:
    """The ``--platform`` tags pip may pick for a Linux ``arch`` station."""
    return [f"manylinux_{glibc}_{arch}" for glibc in _GLIBC] + [
        f"manylinux2014_{arch}",
        f"linux_{arch}",
    ]


def _is_native(arch: str, python: str) -> bool:
    return platform.machine() == arch and f"{sys.version_info[0]}.{sys.version_info[1]}" == python


def _pip(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pip", "--disable-pip-version-check", *args],
        capture_output=True,
        text=True,
        check=False,
    )


def _write_requirements(pins: list[Pin], directory: Path) -> Path:
    path = directory / "requirements.txt"
    path.write_text("".join(pin.line() + "\n" for pin in pins))
    return path


_NO_MATCH = re.compile(r"No matching distribution found for ([A-Za-z0-9_.-]+)==")


def _download(
    pins: list[Pin], out: Path, arch: str, python: str, find_links: Path | None
) -> list[Pin]:
    """Download the wheels of ``pins``; returns the pins that have no wheel for the target."""
    remaining = list(pins)
    missing: list[Pin] = []
    with tempfile.TemporaryDirectory() as scratch:
        while remaining:
            requirements = _write_requirements(remaining, Path(scratch))
            args = ["download", "--no-deps", "--only-binary=:all:", "--require-hashes"]
            for tag in platform_tags(arch):
                args += ["--platform", tag]
            args += ["--python-version", python, "--implementation", "cp"]
            if find_links is not None:
                args += ["--no-index", "--find-links", str(find_links)]
            result = _pip(*args, "-r", str(requirements), "-d", str(out))
            if result.returncode == 0:
                break
            match = _NO_MATCH.search(result.stderr)
            if match is None:
                raise WheelhouseError(f"pip download failed:\n{result.stderr.strip()}")
            name = canonicalize_name(match.group(1))
            missing += [pin for pin in remaining if pin.name == name]
            remaining = [pin for pin in remaining if pin.name != name]
    return missing


def _prebuilt_wheel(pin: Pin, prebuilt: Path | None, arch: str) -> Path | None:
    if prebuilt is None:
        return None
    for path in sorted(Path(prebuilt).glob("*.whl")):
        name, version, _build, tags = parse_wheel_filename(path.name)
        fits = any(tag.platform == "any" or tag.platform.endswith(arch) for tag in tags)
        if name == pin.name and str(version) == pin.version and fits:
            return path
    return None


def _build_from_sdist(pin: Pin, out: Path) -> None:
    """Build ``pin``'s wheel here from its sdist, whose hash pip checks against the lock."""
    with tempfile.TemporaryDirectory() as scratch:
        requirements = _write_requirements([pin], Path(scratch))
        result = _pip(
            "wheel", "--no-deps", "--require-hashes", "-r", str(requirements), "-w", str(out)
        )
    if result.returncode != 0:
        raise WheelhouseError(f"building {pin.name}=={pin.version} failed:\n{result.stderr}")


def fill_wheelhouse(
    pins: list[Pin],
    out: Path,
    arch: str,
    python: str,
    *,
    find_links: Path | None = None,
    prebuilt: Path | None = None,
) -> None:
    """Put a wheel of every pin for ``arch``/``python`` into ``out``."""
    out.mkdir(parents=True, exist_ok=True)
    # A prebuilt wheel whose hash the lock does not list was built from the sdist: pip would
    # refuse it against the lock's hashes, so it is taken as it is (the sdist was checked).
    built = {}
    for pin in pins:
        wheel = _prebuilt_wheel(pin, prebuilt, arch)
        if wheel is not None and hashlib.sha256(wheel.read_bytes()).hexdigest() not in pin.hashes:
            built[pin.name] = wheel
    for wheel in built.values():
        shutil.copy2(wheel, out / wheel.name)
    rest = [pin for pin in pins if pin.name not in built]
    for pin in _download(rest, out, arch, python, find_links):
        wheel = _prebuilt_wheel(pin, prebuilt, arch)
        if wheel is not None:
            shutil.copy2(wheel, out / wheel.name)
        elif _is_native(arch, python):
            _build_from_sdist(pin, out)
        else:
            raise WheelhouseError(
                f"{pin.name}=={pin.version} publishes no wheel for {arch}: build it on an "
                f"{arch} machine (pip wheel {pin.name}=={pin.version}) and pass --prebuilt DIR"
            )
