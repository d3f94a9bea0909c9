"""Small helpers shared by the tests."""

from __future__ import annotations

import time
from collections.abc import Callable

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
