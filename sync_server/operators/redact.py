"""Masking personal data out of audit exports and anything else that leaves the server."""

from __future__ import annotations

import re

_CITIZEN_ID = re.compile(r"(?<!\d)(\d)[- ]?(\d{4})[- ]?(\d{5})[- ]?(\d{2})[- ]?(\d)(?!\d)")
_PHONE = re.compile(r"(?<!\d)(0\d{2})-?(\d{3})-?(\d{4})(?!\d)")
_EMAIL = re.compile(r"\b([A-Za-z0-9._%+-])[A-Za-z0-9._%+-]*@([A-Za-z0-9.-]+\.[A-Za-z]{2,})\b")


def redact(text: str | None) -> str:
    """``text`` with citizen ids, phone numbers and e-mail addresses masked.

    A citizen id keeps its last digit, a phone number its last four, an e-mail its first
    letter and domain: enough to tell two records apart, not to contact or identify anyone.
    """
    if not text:
        return ""
    text = _CITIZEN_ID.sub(lambda m: "X-XXXX-XXXXX-XX-" + m.group(5), text)
    text = _PHONE.sub(lambda m: "0XX-XXX-" + m.group(3), text)
    return _EMAIL.sub(lambda m: f"{m.group(1)}***@{m.group(2)}", text)
