"""Thai national ID card reader over PC/SC (``real``) or an in-process card (``virtual``).

Layers, each adding one thing: :mod:`.apdu` (commands and the card's layout), :mod:`.record`
(decoding and the record), :mod:`.protocol` (the applet's APDU sequence on any link),
:mod:`.transport` (what a backend provides; :mod:`.pcsc` and :mod:`.virtual.transport`
implement it) and :mod:`.reader` (events, settle delay, the station-facing class).
"""

from hardware.card.config import CardConfig, card_config_from_dict
from hardware.card.protocol import ApduStats
from hardware.card.reader import CardEvent, ThaiIdCardReader
from hardware.card.record import Address, PersonName, ThaiIdCard

__all__ = [
    "Address",
    "ApduStats",
    "CardConfig",
    "CardEvent",
    "PersonName",
    "ThaiIdCard",
    "ThaiIdCardReader",
    "card_config_from_dict",
]
