"""The words of the SMS the server sends, in th, vi and en.

Messages are written when they are sent (by the SMS outbox), in the language their cause
recorded; :func:`language_or_default` falls back to the server's ``DEFAULT_LANGUAGE``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

LANGUAGES = ("th", "vi", "en")
DEFAULT_LANGUAGE = "th"

_TEXTS: dict[str, dict[str, str]] = {
    "petition_filed": {
        "th": "ได้รับคำร้อง {number} แล้ว ติดตามสถานะได้ที่ {link}",
        "vi": "Đã nhận đơn {number}. Theo dõi tại: {link}",
        "en": "Your petition {number} was received. Track it: {link}",
    },
    "petition_status": {
        "th": "คำร้อง {number} สถานะ: {status} ติดตามได้ที่ {link}",
        "vi": "Đơn {number}: {status}. Theo dõi tại: {link}",
        "en": "Petition {number} is now: {status}. Track it: {link}",
    },
}

_STATUS_NAMES: dict[str, dict[str, str]] = {
    "received": {"th": "ได้รับคำร้องแล้ว", "vi": "Đã tiếp nhận", "en": "Received"},
    "in_review": {"th": "อยู่ระหว่างพิจารณา", "vi": "Đang xem xét", "en": "In review"},
    "waiting_for_citizen": {
        "th": "รอข้อมูลเพิ่มเติมจากผู้ยื่น",
        "vi": "Chờ bổ sung thông tin",
        "en": "Waiting for the applicant",
    },
    "approved": {"th": "อนุมัติแล้ว", "vi": "Đã chấp thuận", "en": "Approved"},
    "rejected": {"th": "ไม่อนุมัติ", "vi": "Không chấp thuận", "en": "Rejected"},
    "closed": {"th": "ปิดเรื่องแล้ว", "vi": "Đã đóng", "en": "Closed"},
}


def language_or_default(language: str | None, config: Mapping[str, Any]) -> str:
    """``language`` when the server speaks it, else the configured default (Thai)."""
    if language in LANGUAGES:
        return str(language)
    default = config.get("DEFAULT_LANGUAGE") or DEFAULT_LANGUAGE
    return default if default in LANGUAGES else DEFAULT_LANGUAGE


def sms_text(key: str, language: str, **values: object) -> str:
    """The message ``key`` in ``language`` with ``values`` filled in."""
    return _TEXTS[key][language].format(**values)


def status_name(status: str, language: str) -> str:
    """A petition status as citizens read it in ``language`` (an unknown one as itself)."""
    return _STATUS_NAMES.get(status, {}).get(language, status)
