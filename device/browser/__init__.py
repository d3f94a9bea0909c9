"""The kiosk as an appliance: Chromium under the ``cage`` Wayland compositor, watched.

``command.py`` builds the browser's command line (cage + Chromium in kiosk mode in
production, headless Chromium for the tests and the demo); ``watchdog.py`` runs it and restarts
it when the kiosk page stops sending its heartbeat to the daemon (a crashed renderer, a hung
page, a browser that exited). The managed policy that blocks DevTools and every address but
the kiosk's is written by the provisioning (``provisioning/kiosk_policy.py``). See
docs/kiosk.md ("The kiosk as an appliance").
"""

from device.browser.command import BrowserCommand
from device.browser.watchdog import BrowserWatchdog

__all__ = ["BrowserCommand", "BrowserWatchdog"]
