"""The browser's command line: Chromium in kiosk mode, under cage on a station."""

from __future__ import annotations

from dataclasses import dataclass, field

#: Chromium flags of a kiosk: no first-run, error or translate bubbles, no pinch zoom or swipe
#: navigation, no update checks, no "restore pages?" after a crash (the watchdog restarts it).
KIOSK_FLAGS = (
    "--kiosk",
    "--no-first-run",
    "--noerrdialogs",
    "--disable-session-crashed-bubble",
    "--disable-infobars",
    "--disable-translate",
    "--disable-features=TranslateUI",
    "--disable-pinch",
    "--overscroll-history-navigation=0",
    "--check-for-update-interval=31536000",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
)


@dataclass(frozen=True)
class BrowserCommand:
    """How to start the kiosk browser on ``url``.

    ``compositor``: ``"cage"`` on a station (a Wayland kiosk compositor: one full-screen
    window, no desktop, no way out to a shell) or ``None`` when something else shows it (the
    tests and the demo, headless). ``user_data_dir`` is thrown away at each start so nothing
    of a visit survives a restart.
    """

    url: str
    user_data_dir: str
    chromium: str = "/usr/bin/chromium"
    compositor: str | None = "cage"
    headless: bool = False
    extra_flags: tuple[str, ...] = field(default=())

    def argv(self) -> list[str]:
        """The command to run."""
        flags = [*KIOSK_FLAGS, f"--user-data-dir={self.user_data_dir}", "--incognito"]
        if self.headless:
            flags += ["--headless=new", "--disable-gpu"]
        elif self.compositor == "cage":
            flags += ["--ozone-platform=wayland"]
        browser = [self.chromium, *flags, *self.extra_flags, self.url]
        if self.compositor == "cage" and not self.headless:
            # -d: no client-side decorations; -s: allow VT switching for a technician on site.
            return ["cage", "-d", "-s", "--", *browser]
        return browser
