"""Choosing a device backend once, by config or environment, like gpiozero's pin factory.

Each device kind has named backends (``real`` and ``virtual`` at least). The choice comes
from, in order: the explicit argument (station config), the ``STATION_<KIND>_BACKEND``
environment variable, then the kind's default order; each fallback is warned about.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Callable, Sequence
from typing import TypeVar

from hardware.exc import BackendUnavailableError, HardwareConfigError

T = TypeVar("T")


class BackendFallbackWarning(RuntimeWarning):
    """A preferred backend could not be loaded and another one is used."""


def env_var(kind: str) -> str:
    """The environment variable naming the backend of ``kind`` (``STATION_CARD_BACKEND``)."""
    return f"STATION_{kind.upper()}_BACKEND"


def choose_backend(
    kind: str,
    backends: dict[str, Callable[[], T]],
    requested: str | None = None,
    default_order: Sequence[str] = ("real", "virtual"),
) -> tuple[str, T]:
    """Build the backend of ``kind``; returns ``(name, backend)``.

    An explicitly requested backend (argument or environment) that fails raises
    :class:`BackendUnavailableError`; only the default order falls back, with a warning.
    """
    requested = requested or os.environ.get(env_var(kind)) or None
    if requested is not None:
        if requested not in backends:
            raise HardwareConfigError(
                f"unknown {kind} backend {requested!r}; choose one of {', '.join(backends)}"
            )
        return requested, backends[requested]()
    errors: list[str] = []
    for name in default_order:
        try:
            backend = backends[name]()
        except BackendUnavailableError as exc:
            errors.append(f"{name}: {exc}")
            warnings.warn(
                f"{kind} backend {name!r} unavailable ({exc}); trying the next",
                BackendFallbackWarning,
                stacklevel=2,
            )
            continue
        return name, backend
    raise BackendUnavailableError(f"no {kind} backend available: {'; '.join(errors)}")
