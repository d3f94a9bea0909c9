"""Real releases of this checkout for the update tests, built once per session.

Release N is this checkout as it is. N+1 and the failing release are copies of it with the
version raised, N+1 with one more (expand-only) store migration, the failing one with a
self-test regression: a check that fails on every station, as a bad release would bring.
The first build downloads the wheelhouse from the lock file; the others take the dependency
wheels from it (``--find-links``), so only the project's own wheel is built again.
"""

from __future__ import annotations

import platform
import shutil
import tarfile
from dataclasses import dataclass
from pathlib import Path

import msgspec
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from contract.release import WHEELS_DIR
from device.config import StationConfig
from device.store.migrations import LATEST_VERSION
from devtools.release.build import BuildOptions, build_release
from devtools.release.lock import REPO

RELEASE_KEY = Ed25519PrivateKey.generate()
_SKIP = shutil.ignore_patterns(
    ".venv",
    ".git",
    "node_modules",
    "var",
    "build",
    "*.egg-info",
    "__pycache__",
    "tests",
    "bench",
    "docs",
    ".ruff_cache",
    ".pytest_cache",
    ".hypothesis",
    "*.mo",
    "instance",
)


@dataclass(frozen=True)
class Releases:
    key: Ed25519PrivateKey
    n: Path
    n1: Path
    failing: Path
    n1_schema: int
    wheelhouse: Path


def _source_copy(destination: Path, version: str) -> Path:
    shutil.copytree(REPO, destination, ignore=_SKIP)
    pyproject = destination / "pyproject.toml"
    pyproject.write_text(
        pyproject.read_text().replace('version = "0.1.0"', f'version = "{version}"')
    )
    return destination


def _patch(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text, f"{path} changed: the release fixture needs a new anchor"
    path.write_text(text.replace(old, new, 1))


@pytest.fixture(scope="session")
def releases(tmp_path_factory: pytest.TempPathFactory) -> Releases:
    base = tmp_path_factory.mktemp("releases")
    arch = platform.machine()
    n = build_release(BuildOptions(arch=arch), RELEASE_KEY, base / "n")
    wheelhouse = base / "wheelhouse"
    with tarfile.open(n) as tar:
        members = [m for m in tar.getmembers() if m.name.startswith(f"{WHEELS_DIR}/")]
        tar.extractall(wheelhouse, members=members, filter="data")
    cached = wheelhouse / WHEELS_DIR

    n1_source = _source_copy(base / "src-n1", "0.1.1")
    # Appended after the last step, whatever it is: N+1 knows every step N knows.
    _patch(
        n1_source / "device/store/migrations.py",
        "\n)\n\n#: Steps older software cannot live with",
        "\n    # (test release N+1): an expand-only step N does not know.\n"
        '    ("CREATE TABLE update_probe (id INTEGER PRIMARY KEY)",),\n'
        ")\n\n#: Steps older software cannot live with",
    )
    failing_source = _source_copy(base / "src-failing", "0.1.2")
    _patch(
        failing_source / "device/selftest.py",
        '    results += _guarded("watchdog", lambda: _check_watchdog(config))\n',
        '    results += _guarded("watchdog", lambda: _check_watchdog(config))\n'
        '    results.append(CheckResult("regression check", "forced", "fail", "broken here"))\n',
    )

    def build(source: Path, out: str) -> Path:
        options = BuildOptions(arch=arch, source=source, find_links=cached, prebuilt=cached)
        return build_release(options, RELEASE_KEY, base / out)

    return Releases(
        key=RELEASE_KEY,
        n=n,
        n1=build(n1_source, "n1"),
        failing=build(failing_source, "failing"),
        n1_schema=LATEST_VERSION + 1,
        wheelhouse=cached,
    )


def _toml_value(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        return msgspec.json.encode(value).decode()
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    raise TypeError(f"no TOML for {value!r}")


def station_toml(config: StationConfig, release_public_key: str) -> str:
    """``config`` as the station's TOML file, trusting ``release_public_key``."""
    data = msgspec.to_builtins(config)
    data["release_public_key"] = release_public_key
    lines, tables = [], []
    for name, value in data.items():
        if value is None:
            continue
        if isinstance(value, dict):
            tables.append((name, value))
        else:
            lines.append(f"{name} = {_toml_value(value)}")
    for name, table in tables:
        lines.append(f"\n[{name}]")
        lines += [f"{k} = {_toml_value(v)}" for k, v in table.items() if v is not None]
    return "\n".join(lines) + "\n"
