"""The ``rejected`` alarm: the server refused a station's transaction.

A refused transaction never takes effect, and the station sets it aside: a petition whose
number collides with one the server already holds (a station replaced without
``dcs-provision station replace`` starts its numbering again) would otherwise be lost
without a word. The ingest opens the alarm (one open per station, like ``budget``: an
*event*, cleared by a person) with a reason code and a short detail; the pages show it in
the operator's language (:func:`describe`).

The stored message is ``"<code> <detail>"`` so it stays readable where no catalogue is at
hand (an export, a notification); never any personal content: the reason texts carry at
most a petition number or serial.
"""

from __future__ import annotations

import re

from flask_babel import gettext

from sync_server.dashboard.alarms import Finding, raise_event
from sync_server.i18n import N_

RULE = "rejected"

#: Reason code → what the operator reads (a msgid; ``%(detail)s`` is the stored detail).
REASONS: dict[str, str] = {
    "number_taken": N_(
        "A petition was refused: its number %(detail)s is already on the server. Was this "
        "station's SD card replaced without “dcs-provision station replace”? Provision it "
        "as a replacement so its numbering continues, then resend from the station."
    ),
    "serial_jump": N_(
        "A petition was refused: its serial %(detail)s jumps far past the last one this "
        "station sent. Check the station: it may be misconfigured or tampered with."
    ),
    "not_minted": N_(
        "A petition was refused: its number was made by another station (%(detail)s)."
    ),
    "station_mismatch": N_(
        "A transaction was refused: it names another station than the one that sent it."
    ),
    "invalid": N_("A transaction was refused as malformed: %(detail)s"),
}

_NUMBER = re.compile(r"P-[A-Z0-9-]+-[0-9]{7}-[A-Z0-9]")
_SERIAL = re.compile(r"serial ([0-9]+)")


def classify(reason: str) -> tuple[str, str]:
    """The reason code and detail of an ingest rejection reason (as the ack carries it)."""
    if "is already taken" in reason:
        number = _NUMBER.search(reason)
        return "number_taken", number.group(0) if number else ""
    if "jumps more than" in reason:
        serial = _SERIAL.search(reason)
        return "serial_jump", serial.group(1) if serial else ""
    if "not minted by this station" in reason:
        return "not_minted", ""
    if "does not match the topic" in reason:
        return "station_mismatch", ""
    return "invalid", reason[:150]


def finding(reason: str) -> Finding:
    """The ``rejected`` alarm for one ingest rejection reason."""
    code, detail = classify(reason)
    return Finding(RULE, "critical", f"{code} {detail}".strip()[:200])


def raise_rejected(station_id: str, reason: str) -> bool:
    """Open the station's ``rejected`` alarm unless one is open; ``True`` if it opened."""
    return raise_event(station_id, finding(reason))


def describe(rule: str, message: str) -> str:
    """An alarm's message for the page: translated for ``rejected``, as stored otherwise."""
    if rule != RULE:
        return message
    code, _, detail = message.partition(" ")
    if code not in REASONS:
        return message
    return gettext(REASONS[code], detail=detail or "—")
