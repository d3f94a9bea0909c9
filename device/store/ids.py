"""Identifiers minted on the station without asking the server."""

from __future__ import annotations

import os
import re
import threading
import time

from stdnum.iso7064 import mod_37_36

_NUMBER_RE = re.compile(r"^P-([A-Z0-9-]{3,32})-([0-9]{7})-([0-9A-Z*])$")


_RAND_B_MASK = (1 << 62) - 1
_id_lock = threading.Lock()
_last_ms = 0


def new_tx_id() -> str:
    """A UUIDv7 (RFC 9562): unique fleet-wide, and its time prefix keeps one station's ids in order.

    48 bits of Unix milliseconds, then 74 random bits. Within one millisecond the timestamp
    is bumped by one, so ids minted by this process never go backwards (as the ``uuid6``
    package does). Formatted by hand because it sits on the durable-enqueue hot path, where
    building a ``uuid.UUID`` object cost as much as validating the whole body.
    """
    global _last_ms
    with _id_lock:
        ms = time.time_ns() // 1_000_000
        if ms <= _last_ms:
            ms = _last_ms + 1
        _last_ms = ms
    rand = int.from_bytes(os.urandom(10))  # 80 bits; 74 of them are used
    value = (
        (ms & 0xFFFF_FFFF_FFFF) << 80
        | 0x7 << 76  # version 7
        | ((rand >> 64) & 0xFFF) << 64  # rand_a
        | 0b10 << 62  # the RFC 4122/9562 variant
        | (rand & _RAND_B_MASK)  # rand_b
    )
    text = f"{value:032x}"
    return f"{text[:8]}-{text[8:12]}-{text[12:16]}-{text[16:20]}-{text[20:]}"


def _check_input(station_part: str, serial: str) -> str:
    return station_part.replace("-", "") + serial


def petition_number(station_id: str, serial: int) -> str:
    """The citizen-facing number of a petition: ``P-{STATION}-{serial:07d}-{check}``.

    Unique fleet-wide because station ids are unique and ``serial`` comes from a durable
    per-station counter; the ISO 7064 MOD 37,36 check character catches a mistyped character
    or a swap of two neighbours when the citizen types it on the tracking page.
    """
    if not 1 <= serial <= 9_999_999:
        raise ValueError(f"petition serial {serial} out of range 1..9999999")
    station_part = station_id.upper()
    digits = f"{serial:07d}"
    check = mod_37_36.calc_check_digit(_check_input(station_part, digits))
    return f"P-{station_part}-{digits}-{check}"


def is_valid_petition_number(number: str) -> bool:
    """True when ``number`` is well formed and its check character matches."""
    match = _NUMBER_RE.match(number.strip().upper())
    if not match:
        return False
    station_part, digits, check = match.groups()
    return mod_37_36.calc_check_digit(_check_input(station_part, digits)) == check
