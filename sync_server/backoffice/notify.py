"""The SMS a citizen gets when their petition's status changes."""

from __future__ import annotations

from sync_server.backoffice.labels import status_label


def status_sms_text(number: str, status: str, tracking_url: str) -> str:
    """The message: petition number, new status (Thai and English) and the tracking link.

    Nothing else: no name, no form content, no officer's comment (comments are internal).
    """
    thai, english = status_label(status)
    return (
        f"คำร้อง {number} สถานะ: {thai} ติดตามได้ที่ {tracking_url}\n"
        f"Petition {number} is now: {english}. Track it at {tracking_url}"
    )
