"""Where releases live on a station and how ``current`` is switched.

``<root>/releases/<version>/`` holds one release: its virtualenv (``venv/``), its signed
manifest, and ``.complete`` once fully installed. ``<root>/current`` is a relative symlink to
the running release; the units start ``<root>/current/venv/bin/dcs-station``. Switching
writes a new symlink beside it and renames it over ``current`` — ``rename(2)`` is atomic, so
after a power cut ``current`` names the old release or the new one, never neither.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path

DEFAULT_ROOT = Path("/opt/dcs")
COMPLETE = ".complete"


def fsync_directory(path: Path) -> None:
    """Make a rename or unlink in ``path`` durable."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@dataclass(frozen=True)
class Layout:
    """The station's release directories under ``root`` (``/opt/dcs``; a tmp dir in tests)."""

    root: Path = DEFAULT_ROOT

    @property
    def releases(self) -> Path:
        return self.root / "releases"

    @property
    def current(self) -> Path:
        return self.root / "current"

    @property
    def staging(self) -> Path:
        """Where a verified artifact is unpacked before installing."""
        return self.root / "staging"

    @property
    def incoming(self) -> Path:
        """Where artifacts are downloaded to."""
        return self.root / "incoming"

    @property
    def journal(self) -> Path:
        return self.root / "update-journal.json"

    def release(self, version: str) -> Path:
        return self.releases / version

    def is_complete(self, version: str) -> bool:
        """Whether ``version`` is fully installed (its marker written last)."""
        return (self.release(version) / COMPLETE).is_file()

    def current_version(self) -> str | None:
        """The release ``current`` points at, or ``None``."""
        try:
            target = os.readlink(self.current)
        except OSError:
            return None
        return Path(target).name

    def installed(self) -> list[str]:
        """Complete releases, oldest install first."""
        if not self.releases.is_dir():
            return []
        complete = [p for p in self.releases.iterdir() if (p / COMPLETE).is_file()]
        return [p.name for p in sorted(complete, key=lambda p: (p / COMPLETE).stat().st_mtime)]

    def switch(self, version: str) -> None:
        """Point ``current`` at ``version`` atomically and durably."""
        self.root.mkdir(parents=True, exist_ok=True)
        link = self.root / f".current.{os.getpid()}"
        link.unlink(missing_ok=True)
        link.symlink_to(Path("releases") / version)
        os.replace(link, self.current)
        fsync_directory(self.root)

    def remove(self, version: str) -> None:
        """Delete a release (never the current one)."""
        if version == self.current_version():
            raise ValueError(f"{version} is the current release")
        shutil.rmtree(self.release(version), ignore_errors=True)

    def prune(self, keep: tuple[str | None, ...]) -> list[str]:
        """Delete every release directory not in ``keep`` (incomplete ones too)."""
        removed = []
        if self.releases.is_dir():
            for path in self.releases.iterdir():
                if path.name not in keep and path.name != self.current_version():
                    shutil.rmtree(path, ignore_errors=True)
                    removed.append(path.name)
        shutil.rmtree(self.staging, ignore_errors=True)
        return sorted(removed)
