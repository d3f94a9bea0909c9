"""Readable labels for the keys and coded values of a petition's ``form`` (staff pages only).

Stations file the form as a dict of field names (``device/kiosk/views/petition.py`` FIELDS)
plus how the phone number was checked; the back office shows those names in the officer's
language instead of raw keys, and a readable fallback for a key a newer station sends.
"""

from __future__ import annotations

from flask_babel import gettext

from sync_server.i18n import N_

#: Form keys a station files: their msgids.
FORM_KEYS: dict[str, str] = {
    "subject": N_("Subject of the petition"),
    "details": N_("Details"),
    "item": N_("Item to correct"),
    "correct_value": N_("Correct value"),
    "phone_check": N_("Phone number check"),
}

#: Coded values of some keys: their msgids.
FORM_VALUES: dict[tuple[str, str], str] = {
    ("phone_check", "otp"): N_("Confirmed by a code sent by SMS"),
    ("phone_check", "card_offline"): N_("Not confirmed: ID card read while offline"),
}


def form_key_label(key: str) -> str:
    """``key`` in the page's language; an unknown ``snake_case`` key reads ``Snake case``."""
    if key in FORM_KEYS:
        return gettext(FORM_KEYS[key])
    words = key.replace("_", " ").replace("-", " ").strip()
    return words[:1].upper() + words[1:] if words else key


def form_value_text(key: str, value: object) -> str:
    """``value`` of ``key``, translated when it is a known code, else as filed."""
    text = str(value)
    msgid = FORM_VALUES.get((key, text))
    return gettext(msgid) if msgid is not None else text
