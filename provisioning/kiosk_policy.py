"""Chromium's managed policy on a station: the kiosk page and nothing else.

Written to ``/etc/chromium/policies/managed/dcs-kiosk.json`` (Debian's Chromium reads every
JSON file there; a user cannot override a managed policy). It blocks every address but the
kiosk's loopback origin, DevTools and remote debugging, downloads, file dialogs, printing
from the browser (receipts go to the station's own printer), the password manager and
autofill (a public terminal must not remember what one resident typed for the next), and
sign-in, sync and translation prompts.
"""

from __future__ import annotations

import json
from pathlib import Path
from urllib.parse import urlsplit

POLICY_DIR = Path("etc/chromium/policies/managed")
POLICY_FILE = "dcs-kiosk.json"


def kiosk_policy(kiosk_url: str) -> dict[str, object]:
    """The managed policy for a kiosk showing ``kiosk_url``."""
    parts = urlsplit(kiosk_url)
    origin = f"{parts.scheme}://{parts.netloc}"
    return {
        "URLBlocklist": ["*"],
        "URLAllowlist": [origin],  # a prefix: every path of the kiosk origin
        "DeveloperToolsAvailability": 2,  # DevTools never available
        "RemoteDebuggingAllowed": False,
        "DownloadRestrictions": 3,  # block all downloads
        "AllowFileSelectionDialogs": False,
        "PrintingEnabled": False,
        "PasswordManagerEnabled": False,
        "AutofillAddressEnabled": False,
        "AutofillCreditCardEnabled": False,
        "BrowserSignin": 0,
        "SyncDisabled": True,
        "TranslateEnabled": False,
        "IncognitoModeAvailability": 2,  # forced: no history, no cookies kept
        "BrowserAddPersonEnabled": False,
        "BrowserGuestModeEnabled": False,
        "DefaultNotificationsSetting": 2,
        "DefaultGeolocationSetting": 2,
        "AudioCaptureAllowed": False,
        "VideoCaptureAllowed": False,
        "ScreenCaptureAllowed": False,
        "ExtensionInstallBlocklist": ["*"],
        "TaskManagerEnabled": False,
        "HideWebStoreIcon": True,
        "ShowHomeButton": False,
        "BookmarkBarEnabled": False,
        "EditBookmarksEnabled": False,
        "AutoplayAllowed": True,  # spoken guidance plays without a tap
    }


def write_policy(root: Path, kiosk_url: str) -> Path:
    """Write the policy under ``root`` (``/`` on a station) and return its path."""
    target = Path(root) / POLICY_DIR
    target.mkdir(parents=True, exist_ok=True)
    path = target / POLICY_FILE
    path.write_text(json.dumps(kiosk_policy(kiosk_url), indent=2, sort_keys=True) + "\n")
    path.chmod(0o644)
    return path
