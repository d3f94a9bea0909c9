"""The record read from a Thai ID card, and the decoding of each field's raw bytes.

Every function here is pure (bytes in, values out) so the reader and the tests share it. A
field that fails to decode raises :class:`CardDataError` naming the field; the reader never
returns a record with a field missing.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Literal

from contract.identifiers import is_valid_citizen_id
from contract.local_time import BUDDHIST_ERA_OFFSET  # the card's dates are Buddhist era
from hardware.exc import CardDataError

Sex = Literal["male", "female"]

#: Cards of people over 70 never expire; they carry this instead of an expiry date.
LIFELONG = "99999999"
BANGKOK = "กรุงเทพมหานคร"

_SUBDISTRICT_PREFIXES = ("ตำบล", "แขวง")
_DISTRICT_PREFIXES = ("อำเภอ", "เขต")
_PROVINCE_PREFIX = "จังหวัด"
#: Prefixes of the parts between the house number and the subdistrict, and where each goes.
_MIDDLE_PREFIXES = (("หมู่ที่", "moo"), ("ตรอก", "trok"), ("ซอย", "soi"), ("ถนน", "road"))


@dataclass(frozen=True, slots=True)
class PersonName:
    """A name as the card stores it: ``prefix#first#middle#last``."""

    prefix: str
    first: str
    middle: str
    last: str

    @property
    def full(self) -> str:
        """The name as printed: a Thai title is written against the given name, an English
        one with a space (``นายสมชาย ใจดี``, ``Mr. Somchai Jaidee``)."""
        head = self.prefix + (" " if self.prefix.isascii() and self.prefix else "") + self.first
        return " ".join(part for part in (head, self.middle, self.last) if part)


@dataclass(frozen=True, slots=True)
class Address:
    """The registered address, split into its parts without their Thai prefixes.

    ``other`` keeps any part between the house number and the subdistrict that carries none
    of the known prefixes (a village or building name).
    """

    house_no: str
    moo: str
    trok: str
    soi: str
    road: str
    other: str
    subdistrict: str
    district: str
    province: str

    @property
    def line(self) -> str:
        """The address on one line, with the prefixes put back (Bangkok uses แขวง/เขต)."""
        bangkok = self.province == BANGKOK
        parts = [
            self.house_no,
            f"หมู่ที่ {self.moo}" if self.moo else "",
            f"ตรอก{self.trok}" if self.trok else "",
            f"ซอย{self.soi}" if self.soi else "",
            f"ถนน{self.road}" if self.road else "",
            self.other,
            ("แขวง" if bangkok else "ตำบล") + self.subdistrict,
            ("เขต" if bangkok else "อำเภอ") + self.district,
            self.province if bangkok else _PROVINCE_PREFIX + self.province,
        ]
        return " ".join(part for part in parts if part)


@dataclass(frozen=True, slots=True, repr=False)
class ThaiIdCard:
    """The text fields of one card, all decoded and validated (the photo is read apart).

    ``date_of_birth`` is ``None`` when the card holds only the year (older people's cards
    carry ``00`` for an unknown month or day); ``birth_year`` is always there.
    ``expiry_date`` is ``None`` for a lifelong card. The ``repr`` shows no personal data,
    so a record that reaches a log line leaks nothing.
    """

    citizen_id: str
    name_th: PersonName
    name_en: PersonName
    date_of_birth: date | None
    birth_year: int
    sex: Sex
    issuer: str
    issue_date: date
    expiry_date: date | None
    address: Address
    reader: str
    atr: bytes

    def __repr__(self) -> str:
        return f"ThaiIdCard(citizen_id='*********{self.citizen_id[-4:]}', reader={self.reader!r})"


# --- decoding ------------------------------------------------------------------------------


def decode_text(raw: bytes, field: str) -> str:
    """TIS-620 bytes to text, without the card's padding (spaces, NULs) at either end."""
    try:
        text = raw.decode("tis-620")
    except UnicodeDecodeError as exc:
        raise CardDataError(f"{field} is not TIS-620 text", field=field) from exc
    return text.strip(" \x00")


def parse_citizen_id(raw: bytes) -> str:
    """The 13-digit citizen id, its check digit verified by the rule the server shares."""
    citizen_id = decode_text(raw, "citizen_id")
    if not is_valid_citizen_id(citizen_id):
        # The value itself stays out of the message: it is personal data.
        raise CardDataError("citizen id fails its checksum", field="citizen_id")
    return citizen_id


def parse_name(text: str, field: str) -> PersonName:
    """``prefix#first#middle#last`` (middle usually empty) into its parts."""
    parts = [part.strip() for part in text.split("#")]
    if len(parts) != 4 or not parts[1]:
        raise CardDataError(f"{field} is not prefix#first#middle#last", field=field)
    return PersonName(*parts)


def parse_be_date(text: str, field: str) -> tuple[int, date | None]:
    """A Buddhist-era ``YYYYMMDD`` to (Gregorian year, date or None when month/day are 00)."""
    if len(text) != 8 or not text.isascii() or not text.isdigit():
        raise CardDataError(f"{field} is not a YYYYMMDD date", field=field)
    year = int(text[:4]) - BUDDHIST_ERA_OFFSET
    month, day = int(text[4:6]), int(text[6:8])
    if month == 0 or day == 0:
        return year, None
    try:
        return year, date(year, month, day)
    except ValueError as exc:
        raise CardDataError(f"{field} is not a valid date", field=field) from exc


def parse_full_date(text: str, field: str) -> date:
    """A Buddhist-era date that must be complete (issue date)."""
    _, value = parse_be_date(text, field)
    if value is None:
        raise CardDataError(f"{field} has no month or day", field=field)
    return value


def parse_expiry(text: str) -> date | None:
    """The expiry date, or ``None`` for a lifelong card."""
    if text == LIFELONG:
        return None
    return parse_full_date(text, "expiry_date")


def parse_sex(text: str) -> Sex:
    """``1`` male, ``2`` female."""
    if text == "1":
        return "male"
    if text == "2":
        return "female"
    raise CardDataError("sex is neither 1 nor 2", field="sex")


def _drop_prefix(text: str, prefixes: tuple[str, ...]) -> str:
    for prefix in prefixes:
        if text.startswith(prefix):
            return text[len(prefix) :].strip()
    return text


def parse_address(text: str) -> Address:
    """``house#moo#trok#soi#road#subdistrict#district#province`` into an :class:`Address`.

    The parts between the house number and the last three are told apart by their prefixes
    rather than their position: cards differ in how many such parts they carry.
    """
    parts = [part.strip() for part in text.split("#")]
    if len(parts) < 4 or not parts[0] or not all(parts[-3:]):
        raise CardDataError(
            "address does not have house#...#subdistrict#district#province", field="address"
        )
    middle = {"moo": "", "trok": "", "soi": "", "road": ""}
    other: list[str] = []
    for part in parts[1:-3]:
        if not part:
            continue
        for prefix, key in _MIDDLE_PREFIXES:
            if part.startswith(prefix) and not middle[key]:
                middle[key] = part[len(prefix) :].strip()
                break
        else:
            other.append(part)
    return Address(
        house_no=parts[0],
        other=" ".join(other),
        subdistrict=_drop_prefix(parts[-3], _SUBDISTRICT_PREFIXES),
        district=_drop_prefix(parts[-2], _DISTRICT_PREFIXES),
        province=_drop_prefix(parts[-1], (_PROVINCE_PREFIX,)),
        **middle,
    )


def build_record(raw: dict[str, bytes], reader: str, atr: bytes) -> ThaiIdCard:
    """Decode the raw text fields (by field name, as :data:`apdu.TEXT_FIELDS`) into a record."""
    birth_year, date_of_birth = parse_be_date(
        decode_text(raw["date_of_birth"], "date_of_birth"), "date_of_birth"
    )
    return ThaiIdCard(
        citizen_id=parse_citizen_id(raw["citizen_id"]),
        name_th=parse_name(decode_text(raw["name_th"], "name_th"), "name_th"),
        name_en=parse_name(decode_text(raw["name_en"], "name_en"), "name_en"),
        date_of_birth=date_of_birth,
        birth_year=birth_year,
        sex=parse_sex(decode_text(raw["sex"], "sex")),
        issuer=decode_text(raw["issuer"], "issuer"),
        issue_date=parse_full_date(decode_text(raw["issue_date"], "issue_date"), "issue_date"),
        expiry_date=parse_expiry(decode_text(raw["expiry_date"], "expiry_date")),
        address=parse_address(decode_text(raw["address"], "address")),
        reader=reader,
        atr=atr,
    )


# --- the photo -----------------------------------------------------------------------------


def jpeg_length(data: bytes) -> int | None:
    """Where the JPEG in ``data`` ends (just past its EOI marker), or None if it never does.

    Walks the segments by their lengths and the entropy-coded data by its byte stuffing, so
    an ``FF D9`` inside a segment (an embedded thumbnail) is not mistaken for the end, and the
    padding after the image is cut whatever byte it is made of. Nothing is ever stripped by
    byte value: 0x20 is as valid inside a JPEG as any other byte.
    """
    if data[:2] != b"\xff\xd8":
        return None
    i, n = 2, len(data)
    while i + 1 < n:
        if data[i] != 0xFF:
            return None
        marker = data[i + 1]
        if marker == 0xFF:  # fill byte before a marker
            i += 1
            continue
        if marker == 0xD9:
            return i + 2
        if 0xD0 <= marker <= 0xD7 or marker == 0x01:  # markers without a length
            i += 2
            continue
        if i + 4 > n:
            return None
        i += 2 + int.from_bytes(data[i + 2 : i + 4], "big")
        if marker == 0xDA:  # start of scan: skip entropy-coded data to the next real marker
            while i + 1 < n and not (
                data[i] == 0xFF and data[i + 1] != 0x00 and not 0xD0 <= data[i + 1] <= 0xD7
            ):
                i += 1
    return None


def photo_from_area(area: bytes) -> bytes:
    """The JPEG out of the card's 5,100-byte photo area (the image, without the padding).

    An area that holds no JPEG start raises :class:`CardDataError`; one whose JPEG never ends
    (it fills the area, or is cut short) is returned whole, as read.
    """
    if area[:2] != b"\xff\xd8":
        raise CardDataError("photo is not a JPEG", field="photo")
    end = jpeg_length(area)
    return area if end is None else area[:end]
