"""``dcs-station browser``: the kiosk browser under its watchdog (the browser unit runs this)."""

from __future__ import annotations

import signal

import click

from device.browser.command import BrowserCommand
from device.browser.watchdog import BrowserWatchdog


@click.command()
@click.option("--url", default="http://127.0.0.1:8080/", show_default=True, help="The kiosk.")
@click.option(
    "--profile",
    default="/run/dcs-kiosk/profile",
    show_default=True,
    help="Chromium's profile directory, emptied at every start.",
)
@click.option(
    "--compositor",
    type=click.Choice(["cage", "none"]),
    default="cage",
    show_default=True,
    help="cage on a station; none where another display shows the window.",
)
@click.option("--headless", is_flag=True, help="Headless Chromium (demo machines, tests).")
@click.option("--stale-after", "stale_after_s", type=float, default=20.0, show_default=True)
@click.option("--start-grace", "start_grace_s", type=float, default=45.0, show_default=True)
@click.option("--poll", "poll_s", type=float, default=2.0, show_default=True)
@click.option(
    "--chromium-flag",
    "chromium_flags",
    multiple=True,
    help="One more Chromium flag (repeatable), e.g. --no-sandbox where it runs as root.",
)
def browser(
    url: str,
    profile: str,
    compositor: str,
    headless: bool,
    stale_after_s: float,
    start_grace_s: float,
    poll_s: float,
    chromium_flags: tuple[str, ...],
) -> None:
    """Run Chromium in kiosk mode and restart it whenever the kiosk page stops answering."""
    command = BrowserCommand(
        url=url,
        user_data_dir=profile,
        compositor=None if compositor == "none" else compositor,
        headless=headless,
        extra_flags=chromium_flags,
    )
    watchdog = BrowserWatchdog(
        command,
        url.rstrip("/") + "/alive",
        stale_after_s=stale_after_s,
        start_grace_s=start_grace_s,
        poll_s=poll_s,
    )

    def _stop(signum: int, frame: object) -> None:
        watchdog.stop()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    watchdog.run()
