"""The Thai national ID applet's commands and card layout, shared by the reader and the card.

Both sides of the protocol read this table: the reader builds its commands from it and the
virtual card lays out its memory image by it, so the two cannot drift apart. The figures are
those the public readers agree on (see ``docs/hardware-card.md``).
"""

from __future__ import annotations

from dataclasses import dataclass

#: The Thai ID applet's AID and the SELECT that opens it.
THAI_ID_AID = bytes.fromhex("A000000054480001")
SELECT_THAI_ID = bytes([0x00, 0xA4, 0x04, 0x00, len(THAI_ID_AID)]) + THAI_ID_AID

#: ``80 B0 P1 P2 02 00 Le``: the offset is in P1P2 and the length in the command's data.
READ_BINARY_CLA = 0x80
READ_BINARY_INS = 0xB0
GET_RESPONSE_INS = 0xC0

#: The ATR seen on cards in the wild ("TH NID 18"); such cards take GET RESPONSE with P2 = 00.
ATR_DEFAULT = bytes.fromhex("3B 79 96 00 00 54 48 20 4E 49 44 20 31 38")
#: Cards whose ATR starts ``3B 67`` take GET RESPONSE with P2 = 01. This ATR is synthetic: the
#: right shape (TS, T0 = 67, TB1, TC1, seven historical bytes), not copied from a card.
ATR_3B67 = bytes.fromhex("3B 67 00 00 54 48 20 4E 49 44 31")
ATR_VARIANTS = {"default": ATR_DEFAULT, "3b67": ATR_3B67}

SW_OK = (0x90, 0x00)
SW_MORE_DATA = 0x61  # SW2 = bytes waiting for GET RESPONSE


@dataclass(frozen=True, slots=True)
class FieldSpec:
    """Where one field lives on the card."""

    name: str
    offset: int
    length: int


#: The text fields, in the order the reader reads them (citizen id first: it names the card).
TEXT_FIELDS: tuple[FieldSpec, ...] = (
    FieldSpec("citizen_id", 0x0004, 0x0D),
    FieldSpec("name_th", 0x0011, 0x64),
    FieldSpec("name_en", 0x0075, 0x64),
    FieldSpec("date_of_birth", 0x00D9, 0x08),
    FieldSpec("sex", 0x00E1, 0x01),
    FieldSpec("issuer", 0x00F6, 0x64),
    FieldSpec("issue_date", 0x0167, 0x08),
    FieldSpec("expiry_date", 0x016F, 0x08),
    FieldSpec("address", 0x1579, 0x64),
)
FIELDS_BY_NAME = {spec.name: spec for spec in TEXT_FIELDS}

#: The photo: 20 chunks of 0xFF bytes from 0x017B (the last one at 0x1468).
PHOTO_OFFSET = 0x017B
PHOTO_CHUNK = 0xFF
PHOTO_CHUNKS = 20
PHOTO_AREA = PHOTO_CHUNK * PHOTO_CHUNKS  # 5,100 bytes: the JPEG plus padding
PHOTO_FIELDS: tuple[FieldSpec, ...] = tuple(
    FieldSpec(f"photo[{i}]", PHOTO_OFFSET + i * PHOTO_CHUNK, PHOTO_CHUNK)
    for i in range(PHOTO_CHUNKS)
)

#: The size of the memory image the fields span.
IMAGE_SIZE = max(spec.offset + spec.length for spec in (*TEXT_FIELDS, *PHOTO_FIELDS))


def read_binary(offset: int, length: int) -> bytes:
    """The first step of a field read: ``80 B0 P1 P2 02 00 Le``."""
    if not (0 <= offset <= 0xFFFF and 1 <= length <= 0xFF):
        raise ValueError(f"bad READ BINARY offset/length {offset:#x}/{length:#x}")
    return bytes([READ_BINARY_CLA, READ_BINARY_INS, offset >> 8, offset & 0xFF, 0x02, 0x00, length])


def get_response_p2(atr: bytes) -> int:
    """GET RESPONSE's P2 for a card with this ATR: 01 after ``3B 67``, else 00."""
    return 0x01 if atr[:2] == b"\x3b\x67" else 0x00


def get_response(length: int, atr: bytes) -> bytes:
    """The second step of a field read: ``00 C0 00 P2 Le`` (P2 depends on the ATR)."""
    return bytes([0x00, GET_RESPONSE_INS, 0x00, get_response_p2(atr), length])
