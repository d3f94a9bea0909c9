"""The Thai ID applet protocol over any :class:`CardLink`: SELECT, then two APDUs per field.

Each field is read with ``80 B0 P1 P2 02 00 Le`` (the card answers ``61 Le``) and fetched
with GET RESPONSE, whose P2 depends on the ATR (see :func:`apdu.get_response`). A read runs
inside a PC/SC transaction so another application sharing the card cannot slip its own
command between those two steps.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from hardware.card import apdu
from hardware.card.record import ThaiIdCard, build_record, photo_from_area
from hardware.card.transport import CardLink
from hardware.exc import CardCommandError, NotThaiIdCardError

#: SELECT answers that mean "no such applet" rather than a broken card.
_SELECT_OK_SW1 = (0x90, apdu.SW_MORE_DATA)


@dataclass(frozen=True, slots=True)
class ApduStats:
    """What one read cost: APDUs, bytes each way (commands and full responses), seconds."""

    apdus: int
    bytes_sent: int
    bytes_received: int
    seconds: float


class CountingLink:
    """Wraps a link and counts what crosses it (for the benchmark and the logs)."""

    def __init__(self, link: CardLink) -> None:
        self.link = link
        self.apdus = 0
        self.bytes_sent = 0
        self.bytes_received = 0
        self.started = time.perf_counter()

    def transmit(self, command: bytes) -> tuple[bytes, int, int]:
        """Transmit and count."""
        data, sw1, sw2 = self.link.transmit(command)
        self.apdus += 1
        self.bytes_sent += len(command)
        self.bytes_received += len(data) + 2
        return data, sw1, sw2

    def stats(self) -> ApduStats:
        """The counts so far."""
        return ApduStats(
            self.apdus, self.bytes_sent, self.bytes_received, time.perf_counter() - self.started
        )


def select_applet(link: CountingLink) -> None:
    """SELECT the Thai ID applet; :class:`NotThaiIdCardError` if the card has none."""
    _, sw1, sw2 = link.transmit(apdu.SELECT_THAI_ID)
    if sw1 not in _SELECT_OK_SW1:
        raise NotThaiIdCardError(f"card has no Thai ID applet (SELECT answered {sw1:02X}{sw2:02X})")


def read_field(link: CountingLink, spec: apdu.FieldSpec, atr: bytes) -> bytes:
    """The two-step read of one field; :class:`CardCommandError` on any unexpected status."""
    _, sw1, sw2 = link.transmit(apdu.read_binary(spec.offset, spec.length))
    if sw1 != apdu.SW_MORE_DATA:
        raise CardCommandError(
            f"READ BINARY of {spec.name} answered {sw1:02X}{sw2:02X}", sw1=sw1, sw2=sw2
        )
    data, sw1, sw2 = link.transmit(apdu.get_response(spec.length, atr))
    if (sw1, sw2) != apdu.SW_OK:
        raise CardCommandError(
            f"GET RESPONSE of {spec.name} answered {sw1:02X}{sw2:02X}", sw1=sw1, sw2=sw2
        )
    if len(data) != spec.length:
        raise CardCommandError(
            f"GET RESPONSE of {spec.name} gave {len(data)} bytes, not {spec.length}",
            sw1=sw1,
            sw2=sw2,
        )
    return data


def read_text(link: CardLink) -> tuple[ThaiIdCard, ApduStats]:
    """Select the applet and read every text field; the record is built only once all of
    them are in, so an error anywhere leaves nothing half-read behind."""
    counting = CountingLink(link)
    link.begin()
    try:
        select_applet(counting)
        raw = {spec.name: read_field(counting, spec, link.atr) for spec in apdu.TEXT_FIELDS}
    finally:
        link.end()
    return build_record(raw, link.reader, link.atr), counting.stats()


def read_photo(link: CardLink) -> tuple[bytes, ApduStats]:
    """Select the applet and read the 20 photo chunks; returns the JPEG, padding cut."""
    counting = CountingLink(link)
    link.begin()
    try:
        select_applet(counting)
        area = b"".join(read_field(counting, spec, link.atr) for spec in apdu.PHOTO_FIELDS)
    finally:
        link.end()
    return photo_from_area(area), counting.stats()
