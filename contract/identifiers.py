"""Citizen ids, Thai mobile numbers and petition numbers: the one definition every side uses.

Each identifier has a canonical form (what the wire, the databases and the SMS gateway hold)
and, where people type it, a ``normalize_*`` that turns what they typed into that form or
raises an :class:`InvalidIdentifierError`. The ``CitizenId``, ``ThaiMobile`` and
``PetitionNumber`` types carry the same rules into the msgspec schemas of
:mod:`contract.messages`. Error messages never contain the value: these are personal data.

``hardware/`` may import this module. Importing ``contract.identifiers`` runs
``contract/__init__``, which loads the codec and the message schemas: the standard library and
msgspec, nothing else (paho lives in ``contract.transport`` and cryptography in
``contract.replica_seal``, and the package imports neither). ``hardware.card`` already depends
on msgspec for its config, so the card reader gains no dependency by checking citizen ids
here; ``tests/test_identifiers.py`` guards that no Flask, paho or application module comes
along. This module itself needs only the standard library, msgspec and python-stdnum.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Annotated, ClassVar, NamedTuple

import msgspec
from stdnum.iso7064 import mod_37_36
from stdnum.th import pin

# ``[0-9]``, not ``\d``: ``\d`` also matches Thai and full-width digits, which are not ids.
_CITIZEN_ID = "[0-9]{13}"
_THAI_MOBILE = "0[0-9]{9}"
_PETITION_NUMBER = "P-[A-Z0-9-]{3,32}-[0-9]{7}-[0-9A-Z*]"

CitizenId = Annotated[str, msgspec.Meta(pattern=f"^{_CITIZEN_ID}$")]
"""13 ASCII digits on the wire; the check digit is verified where an id is typed or read."""
ThaiMobile = Annotated[str, msgspec.Meta(pattern=f"^{_THAI_MOBILE}$")]
"""A Thai mobile number in canonical form: ``0`` and nine digits, no separators."""
PetitionNumber = Annotated[str, msgspec.Meta(pattern=f"^{_PETITION_NUMBER}$")]
"""``P-{STATION}-{serial:07d}-{check}``, upper case."""

_CITIZEN_ID_RE = re.compile(_CITIZEN_ID)
_FIRST_TWELVE_RE = re.compile("[0-9]{12}")
_THAI_MOBILE_RE = re.compile(_THAI_MOBILE)
_PETITION_NUMBER_RE = re.compile(_PETITION_NUMBER)
#: Separators people type inside numbers: spaces (any whitespace) and dashes.
_SEPARATORS = re.compile(r"[\s-]")
_WHITESPACE = re.compile(r"\s")

PETITION_SERIAL_MAX = 9_999_999


class InvalidIdentifierError(ValueError):
    """Text that is not a well-formed identifier; ``kind`` says which identifier was expected."""

    kind: ClassVar[str] = "identifier"

    def __init__(self) -> None:
        super().__init__(f"not a valid {self.kind}")


class InvalidCitizenIdError(InvalidIdentifierError):
    """Not 13 ASCII digits with a matching check digit."""

    kind = "citizen id"


class InvalidThaiMobileError(InvalidIdentifierError):
    """Not a Thai mobile number (``0`` and nine digits, spaces and dashes allowed when typed)."""

    kind = "Thai mobile number"


class InvalidPetitionNumberError(InvalidIdentifierError):
    """Not shaped like ``P-{STATION}-{serial:07d}-{check}``."""

    kind = "petition number"


# --- citizen ids ----------------------------------------------------------------------------


def citizen_id_check_digit(first12: str) -> str:
    """The 13th digit of a Thai citizen id whose first twelve digits are ``first12``.

    Raises :class:`InvalidCitizenIdError` unless ``first12`` is twelve ASCII digits.
    """
    if not _FIRST_TWELVE_RE.fullmatch(first12):
        raise InvalidCitizenIdError()
    return pin.calc_check_digit(first12)


def is_valid_citizen_id(text: str) -> bool:
    """True for 13 ASCII digits whose last digit is the check digit of the first twelve.

    The category (first digit) is not checked: synthetic ids start with ``0`` on purpose, so
    they can never be a Thai national's.
    """
    return bool(_CITIZEN_ID_RE.fullmatch(text)) and pin.calc_check_digit(text) == text[12]


def normalize_citizen_id(text: str) -> str:
    """A citizen id as typed (``1-2345-67890-12-1``, spaces) → 13 digits, checked.

    Raises :class:`InvalidCitizenIdError` when the digits or the check digit are wrong.
    """
    citizen_id = _SEPARATORS.sub("", text)
    if not is_valid_citizen_id(citizen_id):
        raise InvalidCitizenIdError()
    return citizen_id


# --- Thai mobile numbers --------------------------------------------------------------------


def is_valid_thai_mobile(text: str) -> bool:
    """True when ``text`` is a mobile number in canonical form: ``0`` and nine ASCII digits.

    Typed forms (``081-234-5678``) are not canonical; pass them through
    :func:`normalize_thai_mobile` first.
    """
    return bool(_THAI_MOBILE_RE.fullmatch(text))


def normalize_thai_mobile(text: str) -> str:
    """``081-234-5678``, ``081-2345678`` or ``081 234 5678`` → ``0812345678``.

    Raises :class:`InvalidThaiMobileError` when what remains is not ``0`` and nine digits.
    """
    number = _SEPARATORS.sub("", text)
    if not is_valid_thai_mobile(number):
        raise InvalidThaiMobileError()
    return number


def format_thai_mobile(text: str) -> str:
    """The display form ``0xx-xxxxxxx`` of a mobile number in any accepted form."""
    number = normalize_thai_mobile(text)
    return f"{number[:3]}-{number[3:]}"


# --- petition numbers -----------------------------------------------------------------------


class PetitionNumberParts(NamedTuple):
    """A petition number taken apart; ``station`` is the minting station's id in upper case."""

    station: str
    serial: int
    check: str


def _check_character(station: str, serial_digits: str) -> str:
    # Station ids may contain dashes, which MOD 37,36 has no value for.
    return mod_37_36.calc_check_digit(station.replace("-", "") + serial_digits)


def petition_number(station_id: str, serial: int) -> str:
    """The citizen-facing number of a petition: ``P-{STATION}-{serial:07d}-{check}``.

    Unique fleet-wide because station ids are unique and the station takes ``serial`` from a
    durable per-station counter; the ISO 7064 MOD 37,36 check character catches a mistyped
    character or a swap of two neighbours. Raises ``ValueError`` for a serial out of range.
    """
    if not 1 <= serial <= PETITION_SERIAL_MAX:
        raise ValueError(f"petition serial {serial} out of range 1..{PETITION_SERIAL_MAX}")
    station = station_id.upper()
    digits = f"{serial:07d}"
    return f"P-{station}-{digits}-{_check_character(station, digits)}"


def normalize_petition_number(text: str) -> str:
    """A petition number as typed (spaces, lower case) → canonical, its shape checked.

    The check character is not verified here (see :func:`is_valid_petition_number`). Raises
    :class:`InvalidPetitionNumberError`.
    """
    number = _WHITESPACE.sub("", text).upper()
    if not _PETITION_NUMBER_RE.fullmatch(number):
        raise InvalidPetitionNumberError()
    return number


@lru_cache(maxsize=4096)  # the server reads each number of a batch three times
def parse_petition_number(text: str) -> PetitionNumberParts:
    """The station, serial and check character of a petition number (shape checked only).

    Raises :class:`InvalidPetitionNumberError`.
    """
    number = normalize_petition_number(text)
    # Cut from the fixed-width tail ("-" serial "-" check): a station id may itself contain
    # dashes and digits, so "P-ST-A-" is not a prefix test for station st-a.
    return PetitionNumberParts(number[2:-10], int(number[-9:-2]), number[-1])


def is_valid_petition_number(text: str) -> bool:
    """True when ``text`` is shaped like a petition number and its check character matches."""
    try:
        station, serial, check = parse_petition_number(text)
    except InvalidPetitionNumberError:
        return False
    return _check_character(station, f"{serial:07d}") == check


def is_minted_by(number: str, station_id: str) -> bool:
    """True when the petition number ``number`` carries ``station_id`` as its minting station."""
    try:
        return parse_petition_number(number).station == station_id.upper()
    except InvalidPetitionNumberError:
        return False
