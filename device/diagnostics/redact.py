"""What may leave the station in a diagnostics bundle: an allowlist, and a redactor for text.

Two layers, as Home Assistant's diagnostics pair them:

- :data:`ALLOWLIST` names every field a bundle may carry. :func:`allowlisted` copies only
  those, so a field added to the config (or anywhere the facts come from) stays on the station
  until someone names it here; an unnamed section is dropped whole.
- :class:`Redactor` masks what free text (log lines, a driver's detail) could still hold:
  13-digit citizen ids, phone numbers, and the names of the residents this station's store
  knows (its replica, its queued petitions).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

#: A leaf: keep a scalar (or a list of scalars) as it is.
KEEP = True

_SYNC = dict.fromkeys(
    (
        "window",
        "ack_timeout_s",
        "ack_timeout_max_s",
        "reconnect_initial_s",
        "reconnect_max_s",
        "heartbeat_interval_s",
        "lookup_timeout_s",
        "retention_days",
        "poll_interval_s",
    ),
    KEEP,
)

#: Every field a bundle may carry. ``"*"`` stands for any key (names of packages).
ALLOWLIST: dict[str, Any] = {
    "format": KEEP,
    "station_id": KEEP,
    "generated_at": KEEP,
    "made_by": KEEP,
    "versions": {
        "package": KEEP,
        "python": KEEP,
        "implementation": KEEP,
        "os": KEEP,
        "kernel": KEEP,
        "machine": KEEP,
        "dependencies": {"*": KEEP},
    },
    # Config: no secrets_dir file names, no broker username or password file, no keys.
    "config": {
        "station_id": KEEP,
        "software_version": KEEP,
        "data_dir": KEEP,
        "tracking_url": KEEP,
        "petition_floor": KEEP,
        "broker": {"host": KEEP, "port": KEEP, "tls": KEEP},
        "sync": _SYNC,
        "card": {"backend": KEEP, "settle_s": KEEP, "poll_s": KEEP},
        "printer": {"backend": KEEP, "transport": KEEP},
        "gpio": {"backend": KEEP, "tamper_debounce_s": KEEP},
        "watchdog": {"backend": KEEP, "timeout_s": KEEP, "heartbeat_interval_s": KEEP},
        "replica": {"building": KEEP},
        "kiosk": {
            "port": KEEP,
            "idle_timeout_s": KEEP,
            "countdown_s": KEEP,
            "default_language": KEEP,
            "read_aloud": KEEP,
            "counter_mode": KEEP,
        },
        "commands_verified": KEEP,
    },
    "selftest": {
        "source": KEEP,
        "passed": KEEP,
        "checks": [{"device": KEEP, "check": KEEP, "outcome": KEEP, "detail": KEEP}],
    },
    "outbox": {
        "pending": KEEP,
        "rejected": KEEP,
        "oldest_pending_age_s": KEEP,
        "schema_version": KEEP,
        "petition_serial": KEEP,
        "receipts_queued": KEEP,
        "receipts_failed": KEEP,
    },
    "replica": {
        "enabled": KEEP,
        "building": KEEP,
        "records": KEEP,
        "cursor": KEEP,
        "as_of": KEEP,
        "updated_at": KEEP,
        "wiped": KEEP,
        "last_refusal": KEEP,
    },
    "sync": {"connected": KEEP, "uptime_s": KEEP, "making_progress": KEEP},
    "service_locked": KEEP,
    "disk": {
        "free_pct": KEEP,
        "free_mib": KEEP,
        "total_mib": KEEP,
        "store_mib": KEEP,
        "wal_mib": KEEP,
    },
    "clock": {
        "station_time": KEEP,
        "ntp_synchronized": KEEP,
        "ntp_source": KEEP,
        "server_offset_s": KEEP,
        "offset_source": KEEP,
    },
    "log": {"lines": KEEP, "masked": KEEP, "file": KEEP},
}

_SCALARS = (str, int, float, bool, type(None))


def allowlisted(value: Any, spec: Any = ALLOWLIST) -> Any:
    """Only what ``spec`` names of ``value`` (a JSON-like tree); anything else is left out.

    Returns ``None`` for a value of the wrong shape (a mapping where a scalar is named...).
    """
    if spec is KEEP:
        if isinstance(value, _SCALARS):
            return value
        if isinstance(value, list) and all(isinstance(item, _SCALARS) for item in value):
            return list(value)
        return None
    if isinstance(spec, list):
        if not isinstance(value, list):
            return None
        return [allowlisted(item, spec[0]) for item in value]
    if not isinstance(value, dict):
        return None
    kept: dict[str, Any] = {}
    for key, item in value.items():
        named = spec.get(key, spec.get("*"))
        if named is not None:
            kept[key] = allowlisted(item, named)
    return kept


def redact_strings(value: Any, redactor: Redactor) -> Any:
    """``value`` with every string in it passed through ``redactor``."""
    if isinstance(value, str):
        return redactor(value)
    if isinstance(value, list):
        return [redact_strings(item, redactor) for item in value]
    if isinstance(value, dict):
        return {key: redact_strings(item, redactor) for key, item in value.items()}
    return value


# A citizen id: 13 digits, run together or grouped as printed on the card (1-2345-67890-12-3).
# The same separator throughout, so a phone number and the digits after it are not taken
# for an id.
_CITIZEN_ID = re.compile(r"(?<!\d)\d(?P<s>[- ]?)\d{4}(?P=s)\d{5}(?P=s)\d{2}(?P=s)\d(?!\d)")
# A Thai phone number: 0 or +66, then 8 or 9 digits, with dashes or spaces anywhere.
_PHONE = re.compile(r"(?<![\d+])(?:\+66|0066|0)[- ]?\d(?:[- ]?\d){7,8}(?!\d)")
# Titles glued to a Thai given name ("นายสมชาย"): the name is masked with and without them.
_THAI_TITLES = ("เด็กหญิง", "เด็กชาย", "นางสาว", "นาย", "นาง", "ด.ญ.", "ด.ช.")
_LATIN_TITLES = frozenset({"mr.", "mrs.", "ms.", "miss", "master", "dr."})


def name_tokens(full_names: Iterable[str]) -> set[str]:
    """The words of residents' names worth masking: each word, and a Thai one without its title."""
    tokens: set[str] = set()
    for full in full_names:
        for word in full.split():
            if word.lower() in _LATIN_TITLES:
                continue
            for title in _THAI_TITLES:
                if word.startswith(title) and len(word) > len(title):
                    tokens.add(word[len(title) :])
            tokens.add(word)
    return {token for token in tokens if len(token) >= 2}


class Redactor:
    """Masks citizen ids, phone numbers and the given names in a line of text."""

    def __init__(self, names: Iterable[str] = ()) -> None:
        tokens = sorted(name_tokens(names), key=len, reverse=True)
        self._names = (
            re.compile("|".join(re.escape(token) for token in tokens), re.IGNORECASE)
            if tokens
            else None
        )
        #: How many things were masked so far (reported in the bundle, never what they were).
        self.masked = 0

    def __call__(self, text: str) -> str:
        """``text`` with what may identify a resident replaced by a marker."""
        for pattern, marker in ((_CITIZEN_ID, "[citizen-id]"), (_PHONE, "[phone]")):
            text, count = pattern.subn(marker, text)
            self.masked += count
        if self._names is not None:
            text, count = self._names.subn("[name]", text)
            self.masked += count
        return text
