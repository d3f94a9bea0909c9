"""The virtual Thai ID card: the applet's behaviour on a memory image, APDU in, APDU out.

Both frontends drive this same object: the vpcd socket process (through the real pcscd) and
the in-process ``virtual`` backend. It answers like the cards the public readers describe:
SELECT by AID, READ BINARY ``80 B0`` answering ``61 Le``, then GET RESPONSE with the P2 its
ATR calls for; anything else gets the ISO 7816-4 status a card would give, never silence, so
other PC/SC clients (opensc-tool probing for its own drivers) can talk to it too.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from hardware.card import apdu
from hardware.card.virtual.cardfile import CardFile, build_image, load_card_file

SW_OK = b"\x90\x00"
SW_WRONG_LENGTH = b"\x67\x00"
SW_NOT_ALLOWED = b"\x69\x86"
SW_NO_PENDING = b"\x69\x85"
SW_FILE_NOT_FOUND = b"\x6a\x82"
SW_WRONG_P1P2 = b"\x6a\x86"
SW_OUT_OF_RANGE = b"\x6b\x00"
SW_INS_UNKNOWN = b"\x6d\x00"
SW_CLA_UNKNOWN = b"\x6e\x00"

#: What the applet answers to SELECT (fetched with GET RESPONSE, as a real card's FCI).
_SELECT_FCI = bytes.fromhex("6F 08 84 06 A0 00 00 00 54 48")


def parse_sw(text: str) -> tuple[int, int]:
    """``"6A82"`` to ``(0x6A, 0x82)``."""
    raw = bytes.fromhex(text)
    if len(raw) != 2:
        raise ValueError(f"a status word is 2 bytes, not {text!r}")
    return raw[0], raw[1]


class VirtualThaiIdCard:
    """A Thai ID card as the reader sees it through APDUs.

    ``bad_sw`` maps a text field name (or ``photo``) to the status word its READ BINARY
    answers instead of ``61 Le``; ``has_applet=False`` makes a card without the Thai ID
    applet (an unknown card).
    """

    def __init__(
        self,
        image: bytes,
        atr: bytes = apdu.ATR_DEFAULT,
        *,
        bad_sw: Mapping[str, tuple[int, int]] | None = None,
        has_applet: bool = True,
    ) -> None:
        if len(image) < apdu.IMAGE_SIZE:
            raise ValueError(f"image is {len(image)} bytes, needs {apdu.IMAGE_SIZE}")
        self.image = image
        self.atr = atr
        self.has_applet = has_applet
        self._p2 = apdu.get_response_p2(atr)
        self._bad_offsets: dict[int, bytes] = {}
        for name, (sw1, sw2) in (bad_sw or {}).items():
            specs = apdu.PHOTO_FIELDS if name == "photo" else (apdu.FIELDS_BY_NAME[name],)
            for spec in specs:
                self._bad_offsets[spec.offset] = bytes([sw1, sw2])
        self._selected = False
        self._pending: bytes | None = None

    @classmethod
    def from_card_file(
        cls,
        card: CardFile | str | Path,
        variant: str = "default",
        *,
        bad_sw: Mapping[str, tuple[int, int]] | None = None,
        has_applet: bool = True,
    ) -> VirtualThaiIdCard:
        """A card holding a card file's contents, with the ATR of ``variant``
        (``default`` or ``3b67``)."""
        if not isinstance(card, CardFile):
            card = load_card_file(card)
        return cls(
            build_image(card), apdu.ATR_VARIANTS[variant], bad_sw=bad_sw, has_applet=has_applet
        )

    # --- power ----------------------------------------------------------------------------

    def reset(self) -> None:
        """Power on, off or reset: the applet is deselected and nothing is pending."""
        self._selected = False
        self._pending = None

    # --- commands -------------------------------------------------------------------------

    def process(self, command: bytes) -> bytes:
        """One command APDU in, response data + SW1 SW2 out."""
        if len(command) < 4:
            return SW_WRONG_LENGTH
        cla, ins, p1, p2 = command[:4]
        if cla == 0x00 and ins == 0xA4:
            return self._select(p1, command[5 : 5 + command[4]] if len(command) > 4 else b"")
        if cla == 0x80 and ins == apdu.READ_BINARY_INS:
            return self._read_binary((p1 << 8) | p2, command[4:])
        if cla == 0x00 and ins == apdu.GET_RESPONSE_INS:
            return self._get_response(p1, p2, command[4] if len(command) > 4 else 0)
        if cla not in (0x00, 0x80):
            return SW_CLA_UNKNOWN
        return SW_INS_UNKNOWN

    def _select(self, p1: int, aid: bytes) -> bytes:
        self._pending = None
        if p1 == 0x04 and aid == apdu.THAI_ID_AID and self.has_applet:
            self._selected = True
            self._pending = _SELECT_FCI
            return bytes([apdu.SW_MORE_DATA, len(_SELECT_FCI)])
        self._selected = False
        return SW_FILE_NOT_FOUND

    def _read_binary(self, offset: int, body: bytes) -> bytes:
        self._pending = None
        if not self._selected:
            return SW_NOT_ALLOWED
        if len(body) != 3 or body[0] != 0x02 or body[1] != 0x00:
            return SW_WRONG_LENGTH  # Lc must be 2, the data 00 Le
        length = body[2]
        if offset + length > len(self.image):
            return SW_OUT_OF_RANGE
        if offset in self._bad_offsets:
            return self._bad_offsets[offset]
        self._pending = self.image[offset : offset + length]
        return bytes([apdu.SW_MORE_DATA, length])

    def _get_response(self, p1: int, p2: int, le: int) -> bytes:
        if p1 != 0x00 or p2 != self._p2:
            return SW_WRONG_P1P2  # the other ATR variant's GET RESPONSE
        pending, self._pending = self._pending, None
        if pending is None:
            return SW_NO_PENDING
        le = le or 256
        if le > len(pending):
            self._pending = pending
            return bytes([0x6C, len(pending)])  # wrong Le: here is the right one
        if le < len(pending):
            self._pending = pending[le:]
            return pending[:le] + bytes([apdu.SW_MORE_DATA, min(len(pending) - le, 0xFF)])
        return pending + SW_OK
