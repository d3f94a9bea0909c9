"""Identifiers minted on the station without asking the server."""

from __future__ import annotations

import re

import uuid6
from stdnum.iso7064 import mod_37_36

_NUMBER_RE = re.compile(r"^P-([A-Z0-9-]{3,32})-([0-9]{7})-([0-9A-Z*])$")


def new_tx_id() -> str:
    """A UUIDv7: unique fleet-wide, and its time prefix keeps one station's ids in order."""
    return str(uuid6.uuid7())


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
