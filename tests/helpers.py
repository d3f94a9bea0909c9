"""Small helpers shared by the tests."""

from __future__ import annotations

import atexit
import functools
import os
import shutil
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

#: A hang guard, not a speed requirement: generous so a slow CI machine never fails on it.
DEFAULT_DEADLINE_S = 60.0


def wait_until(
    predicate: Callable[[], object], what: str, deadline_s: float = DEFAULT_DEADLINE_S
) -> object:
    """Poll ``predicate`` until it returns something truthy; fail the test if it never does."""
    end = time.monotonic() + deadline_s
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > end:
            raise AssertionError(f"gave up waiting for {what}")
        time.sleep(0.05)


@functools.cache
def screens_dir() -> Path:
    """Where a test keeps the screenshots it takes: ``docs/screens/`` with ``DCS_SCREENS=1``
    (``make screens``), else a directory of this process's own, deleted at exit, so that a
    test run leaves the repository as it found it."""
    if os.environ.get("DCS_SCREENS"):
        return Path(__file__).resolve().parents[1] / "docs" / "screens"
    path = Path(tempfile.mkdtemp(prefix="dcs-test-screens-"))
    atexit.register(shutil.rmtree, path, ignore_errors=True)
    return path
