"""Choosing the watchdog backend, as for every device: argument, then environment, then order."""

from __future__ import annotations

from collections.abc import Callable

from hardware.backend import choose_backend
from hardware.watchdog.config import WatchdogConfig
from hardware.watchdog.link import WatchdogLink
from hardware.watchdog.protocol import Event


def open_watchdog(
    config: WatchdogConfig | None = None,
    backend: str | None = None,
    *,
    on_event: Callable[[Event], None] | None = None,
) -> WatchdogLink:
    """Open the link to the watchdog board, already greeted (``link.info``), not yet armed.

    ``backend`` (or ``config.backend``, or ``STATION_WATCHDOG_BACKEND``) picks ``real`` (the
    board at ``config.device``) or ``virtual`` (the firmware logic in-process behind a pty).
    Unset, a missing board falls back to ``virtual`` with a warning — so a kiosk's config
    should say ``real`` outright: a virtual watchdog protects nothing.
    """
    config = config or WatchdogConfig()

    def real() -> WatchdogLink:
        return WatchdogLink(config, on_event=on_event)

    def virtual() -> WatchdogLink:
        # Imported here: the real backend never needs the simulator.
        from hardware.watchdog.virtual import VirtualWatchdogLink

        return VirtualWatchdogLink(config, on_event=on_event)

    _, link = choose_backend(
        "watchdog", {"real": real, "virtual": virtual}, requested=backend or config.backend
    )
    return link
