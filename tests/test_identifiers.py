"""contract.identifiers: citizen ids, Thai mobile numbers, petition numbers.

Every citizen id here is synthetic: it starts with 0, a category no Thai national holds.
"""

from __future__ import annotations

import subprocess
import sys

import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st

from contract.identifiers import (
    CitizenId,
    InvalidCitizenIdError,
    InvalidIdentifierError,
    InvalidPetitionNumberError,
    InvalidThaiMobileError,
    PetitionNumber,
    ThaiMobile,
    citizen_id_check_digit,
    format_thai_mobile,
    is_minted_by,
    is_valid_citizen_id,
    is_valid_petition_number,
    is_valid_thai_mobile,
    normalize_citizen_id,
    normalize_petition_number,
    normalize_thai_mobile,
    parse_petition_number,
    petition_number,
)
from contract.topics import STATION_ID_PATTERN

DIGITS = "0123456789"
#: The characters ISO 7064 MOD 37,36 can put in the check position.
CHECK_CHARACTERS = DIGITS + "ABCDEFGHIJKLMNOPQRSTUVWXYZ*"
synthetic_first12 = st.text(DIGITS, min_size=11, max_size=11).map(lambda rest: "0" + rest)
station_ids = st.from_regex(STATION_ID_PATTERN, fullmatch=True)
serials = st.integers(min_value=1, max_value=9_999_999)


def weighted_check_digit(first12: str) -> str:
    """The rule as the Department of Provincial Administration states it, as an oracle."""
    total = sum((13 - i) * int(digit) for i, digit in enumerate(first12))
    return str((11 - total % 11) % 10)


# --- citizen ids ----------------------------------------------------------------------------


@given(synthetic_first12)
def test_the_check_digit_follows_the_weighted_rule(first12):
    check = citizen_id_check_digit(first12)
    assert check == weighted_check_digit(first12)
    assert is_valid_citizen_id(first12 + check)


@given(synthetic_first12, st.sampled_from(DIGITS))
def test_any_other_last_digit_is_refused(first12, last):
    assert is_valid_citizen_id(first12 + last) is (last == weighted_check_digit(first12))


@pytest.mark.parametrize(
    ("text", "valid"),
    [
        ("0000000000001", True),
        ("0123456789016", True),
        ("0000000000000", False),  # wrong check digit
        ("012345678901", False),  # twelve digits
        ("01234567890160", False),  # fourteen
        ("012345678901a", False),
        ("0-1234-56789-01-6", False),  # typed form: normalize first
        ("0123456789016\n", False),
        ("０１２３４５６７８９０１６", False),  # full-width digits are not ASCII
        ("๐๑๒๓๔๕๖๗๘๙๐๑๖", False),  # nor are Thai digits
        ("", False),
    ],
)
def test_citizen_id_examples(text, valid):
    assert is_valid_citizen_id(text) is valid


def test_a_typed_citizen_id_is_normalized_or_refused_without_echoing_it():
    assert normalize_citizen_id(" 0-1234-56789-01-6 ") == "0123456789016"
    assert normalize_citizen_id("0 1234 56789 01 6") == "0123456789016"
    with pytest.raises(InvalidCitizenIdError) as refused:
        normalize_citizen_id("0-1234-56789-01-7")
    assert "0123456789017" not in str(refused.value)
    assert isinstance(refused.value, ValueError)


@pytest.mark.parametrize("first12", ["01234567890", "0123456789012", "01234567890x", "０" * 12])
def test_the_check_digit_needs_twelve_ascii_digits(first12):
    with pytest.raises(InvalidCitizenIdError):
        citizen_id_check_digit(first12)


# --- Thai mobile numbers --------------------------------------------------------------------


@pytest.mark.parametrize(
    "typed", ["0812345678", "081-2345678", "081-234-5678", "081 234 5678", " 0812345678\t"]
)
def test_typed_mobile_numbers_normalize_to_ten_digits(typed):
    assert normalize_thai_mobile(typed) == "0812345678"
    assert format_thai_mobile(typed) == "081-2345678"


@pytest.mark.parametrize(
    "typed",
    [
        "812345678",  # no leading 0
        "+66812345678",
        "08123456789",
        "081234567",
        "081.234.5678",
        "๐๘๑๒๓๔๕๖๗๘",  # Thai digits
        "",
    ],
)
def test_malformed_mobile_numbers_are_refused(typed):
    with pytest.raises(InvalidThaiMobileError, match="not a valid Thai mobile number"):
        normalize_thai_mobile(typed)
    assert not is_valid_thai_mobile(typed)


def test_only_the_canonical_form_is_valid_as_is():
    assert is_valid_thai_mobile("0812345678")
    assert not is_valid_thai_mobile("081-2345678")
    assert not is_valid_thai_mobile("0812345678\n")


@given(st.text(DIGITS, min_size=9, max_size=9), st.lists(st.sampled_from([" ", "-"]), max_size=4))
def test_separators_anywhere_are_dropped(tail, separators):
    number = "0" + tail
    typed = list(number)
    for position, separator in enumerate(separators):
        typed.insert(position * 3 % len(typed), separator)
    assert normalize_thai_mobile("".join(typed)) == number
    assert normalize_thai_mobile(format_thai_mobile(number)) == number


@given(st.text(max_size=20))
def test_normalizing_any_text_gives_a_valid_number_or_the_one_error(text):
    try:
        number = normalize_thai_mobile(text)
    except InvalidThaiMobileError:
        return
    assert is_valid_thai_mobile(number)


# --- petition numbers -----------------------------------------------------------------------


@given(station_ids, serials)
def test_a_minted_number_parses_back_and_checks(station_id, serial):
    number = petition_number(station_id, serial)
    assert is_valid_petition_number(number)
    assert is_valid_petition_number(f"  {number.lower()} ")
    parts = parse_petition_number(number)
    assert parts == (station_id.upper(), serial, number[-1])
    assert is_minted_by(number, station_id)
    assert msgspec.convert(number, PetitionNumber) == number


@given(station_ids, serials, st.sampled_from(CHECK_CHARACTERS))
def test_a_wrong_check_character_is_refused(station_id, serial, character):
    number = petition_number(station_id, serial)
    retyped = number[:-1] + character
    assert is_valid_petition_number(retyped) is (character == number[-1])
    assert normalize_petition_number(retyped) == retyped  # the shape alone is fine


@given(station_ids, serials, st.integers(0, 6), st.sampled_from(DIGITS))
def test_a_mistyped_serial_digit_is_caught(station_id, serial, position, digit):
    number = petition_number(station_id, serial)
    index = len(number) - 9 + position
    retyped = number[:index] + digit + number[index + 1 :]
    assert is_valid_petition_number(retyped) is (retyped == number)


def test_petition_number_examples():
    number = petition_number("st-lobby-7", 1234)
    assert number.startswith("P-ST-LOBBY-7-0001234-")
    wrong = number[:-1] + ("A" if number[-1] != "A" else "B")
    assert normalize_petition_number(wrong) == wrong
    assert not is_valid_petition_number(wrong)
    for malformed in ("P-ST-A-123-X", "P-12", "ST-A-0000001-X", "P-ST-A-0000001-XY", ""):
        assert not is_valid_petition_number(malformed)
        with pytest.raises(InvalidPetitionNumberError):
            parse_petition_number(malformed)


def test_the_station_is_read_from_the_fixed_width_tail():
    number = petition_number("st-a-0000001", 5)  # a station id that looks like a number
    assert parse_petition_number(number).station == "ST-A-0000001"
    assert is_minted_by(number, "st-a-0000001")
    assert not is_minted_by(number, "st-a")
    assert not is_minted_by("P-12", "st-a")


@pytest.mark.parametrize("serial", [0, -1, 10_000_000])
def test_serials_out_of_range_are_refused(serial):
    with pytest.raises(ValueError, match="out of range"):
        petition_number("st-a", serial)


# --- schema types and imports ---------------------------------------------------------------


def test_the_schema_types_hold_the_canonical_forms():
    assert msgspec.convert("0812345678", ThaiMobile) == "0812345678"
    assert msgspec.convert("0123456789016", CitizenId) == "0123456789016"
    malformed = (("081-2345678", ThaiMobile), ("0-1234", CitizenId), ("P-1", PetitionNumber))
    for value, kind in malformed:
        with pytest.raises(msgspec.ValidationError):
            msgspec.convert(value, kind)


def test_every_error_is_one_value_error():
    for error in (InvalidCitizenIdError, InvalidThaiMobileError, InvalidPetitionNumberError):
        assert issubclass(error, InvalidIdentifierError)
        assert issubclass(error, ValueError)


def test_importing_identifiers_brings_no_transport_web_or_application_code():
    code = (
        "import sys, contract.identifiers; "
        "print(sorted({m.split('.')[0] for m in sys.modules} & {'paho', 'flask', "
        "'cryptography', 'peewee', 'sync_server', 'device', 'hardware', 'provisioning'}))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert out.stdout.strip() == "[]"
