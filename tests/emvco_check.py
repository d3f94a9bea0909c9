"""An EMVCo merchant-presented QR checker written from the specification, for the tests.

Independent of ``sync_server/bills/emvco.py`` on purpose: its own TLV walk and a bitwise
CRC-16/CCITT-FALSE (polynomial 0x1021, initial 0xFFFF, no reflection, no final XOR), where the
product uses ``binascii.crc_hqx``. EMV QRCPS Merchant-Presented Mode 1.1: ID "00" first with
value "01", CRC "63" last with length 4 over everything before its value, ids 52, 53, 58,
59 and 60 present, every length two digits and within the string.
"""

from __future__ import annotations

import subprocess
from pathlib import Path


def crc16_ccitt_false(data: bytes) -> int:
    """Bit by bit, as the specification's annex describes it."""
    crc = 0xFFFF
    for byte in data:
        crc ^= byte << 8
        for _ in range(8):
            crc = ((crc << 1) ^ 0x1021) if crc & 0x8000 else crc << 1
            crc &= 0xFFFF
    return crc


def walk(data: str) -> list[tuple[str, str]]:
    """The (id, value) pairs of a TLV string, in order; raises AssertionError if malformed."""
    fields, position = [], 0
    while position < len(data):
        tag, length = data[position : position + 2], data[position + 2 : position + 4]
        assert tag.isdigit() and length.isdigit(), f"bad header at {position}"
        value = data[position + 4 : position + 4 + int(length)]
        assert len(value) == int(length), f"field {tag} overruns the payload"
        fields.append((tag, value))
        position += 4 + int(length)
    return fields


def check_payload(payload: str) -> dict[str, str]:
    """Check the mandatory rules and return the fields by id."""
    assert payload.isascii(), "payload must be ASCII"
    fields = walk(payload)
    ids = [tag for tag, _ in fields]
    assert fields[0] == ("00", "01"), "payload format indicator first, 01"
    assert ids[-1] == "63" and len(fields[-1][1]) == 4, "CRC last, four characters"
    assert payload[-8:-4] == "6304"
    assert int(fields[-1][1], 16) == crc16_ccitt_false(payload[:-4].encode()), "CRC"
    for mandatory in ("52", "53", "58", "59", "60"):
        assert mandatory in ids, f"mandatory field {mandatory} missing"
    assert len(ids) == len(set(ids)), "a field repeats"
    assert any(26 <= int(tag) <= 51 or 2 <= int(tag) <= 25 for tag in ids), "no merchant account"
    return dict(fields)


def zbar(path: Path) -> str:
    """The QR code's text as Debian's zbarimg reads it from a picture."""
    done = subprocess.run(
        ["zbarimg", "--quiet", "--raw", "-Sdisable", "-Sqrcode.enable", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return done.stdout.strip()
