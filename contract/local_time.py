"""How a person reads a time or a date: the deployment's time zone and calendar, in a language.

The wire carries UTC (aware datetimes, see :mod:`contract.messages`); the station (kiosk
screens, receipts) and the server (tracking page, back office, dashboard, SMS) show every
time through this module, so a petition filed at 13:57 UTC reads 20:57 everywhere in a Thai
deployment. A deployment is a :class:`LocalTime`: an IANA zone and a calendar — Thailand:
``Asia/Bangkok`` and the Buddhist era (year + 543); Vietnam: ``Asia/Ho_Chi_Minh`` and the
Gregorian calendar. Both sides read it from their config (``[local_time]`` of the station,
``TIMEZONE``/``CALENDAR`` of the server).

The calendar follows the deployment, whatever the reader's language; when the language
normally counts years in the other era (a Thai reader in Vietnam, an English one in Thailand),
the year carries its era (``2568 BE``) so it cannot be misread. Month names and the order of
the parts come from Babel (CLDR); the year is put in as a literal, since Babel knows only the
Gregorian calendar. Naive datetimes are refused: a time without a zone cannot be shown right.
"""

from __future__ import annotations

import re
from datetime import date, datetime
from functools import cache
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import msgspec
from babel.dates import format_datetime

from contract.vocabulary import word

Calendar = Literal["buddhist", "gregorian"]
BUDDHIST_ERA_OFFSET = 543
#: The calendar each language counts years in when nothing says otherwise.
NATIVE_CALENDAR: dict[str, Calendar] = {"th": "buddhist", "vi": "gregorian", "en": "gregorian"}
#: Babel patterns for a moment (date and time); ``{year}`` becomes the calendar's year.
_MOMENT_PATTERNS = {
    "th": "d MMM {year} HH:mm 'น.'",
    "vi": "dd/MM/{year} HH:mm",
    "en": "d MMM {year}, HH:mm",
}
#: Years at or past this are read as Buddhist era when typed, below it as Gregorian: no one
#: alive was born in 2300 CE or in 2300 BE (1757 CE), so the two ranges never overlap.
_ERA_BOUNDARY = 2300
_TYPED_DAY = re.compile(r"(\d{1,2})[-/.](\d{1,2})[-/.](\d{4})")


@cache
def _zone(name: str) -> ZoneInfo:
    return ZoneInfo(name)


class LocalTime(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """A deployment's time zone and calendar (the ``[local_time]`` table of a station)."""

    #: An IANA zone name; Thailand and Vietnam keep UTC+7 all year (no daylight saving).
    timezone: str = "Asia/Bangkok"
    calendar: Calendar = "buddhist"

    def __post_init__(self) -> None:
        try:
            _zone(self.timezone)
        except (ZoneInfoNotFoundError, ValueError):
            # msgspec reports a ValueError from here as a validation error of the config.
            raise ValueError(f"unknown time zone {self.timezone!r}") from None

    @property
    def zone(self) -> ZoneInfo:
        """The zone as a :class:`~zoneinfo.ZoneInfo`."""
        return _zone(self.timezone)

    def year(self, gregorian_year: int) -> int:
        """``gregorian_year`` counted in this calendar."""
        return gregorian_year + (BUDDHIST_ERA_OFFSET if self.calendar == "buddhist" else 0)


#: The two deployments the project knows.
THAILAND = LocalTime()
VIETNAM = LocalTime(timezone="Asia/Ho_Chi_Minh", calendar="gregorian")


def to_local(moment: datetime, local: LocalTime) -> datetime:
    """``moment`` (aware) in the deployment's zone; a naive datetime raises ValueError."""
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError("a time without a zone cannot be shown: pass an aware datetime")
    return moment.astimezone(local.zone)


def _language(language: str) -> str:
    return language if language in _MOMENT_PATTERNS else "en"


def year_text(gregorian_year: int, local: LocalTime, language: str) -> str:
    """A year as the reader sees it: the deployment's calendar, with its era when the
    reader's language counts in the other one (``2568``, ``2568 BE``, ``2025 ค.ศ.``)."""
    language = _language(language)
    text = str(local.year(gregorian_year))
    if NATIVE_CALENDAR[language] != local.calendar:
        text = f"{text} {word('era', local.calendar, language)}"
    return text


def format_moment(moment: datetime, local: LocalTime, language: str) -> str:
    """A date and time in the deployment's zone and calendar: ``20 มี.ค. 2568 20:57 น.``,
    ``20/03/2025 20:57``, ``20 Mar 2025, 20:57``."""
    language = _language(language)
    there = to_local(moment, local)
    year = year_text(there.year, local, language).replace("'", "''")
    pattern = _MOMENT_PATTERNS[language].format(year=f"'{year}'")
    return format_datetime(there, pattern, tzinfo=local.zone, locale=language)


def format_day(day: date | datetime, local: LocalTime, language: str) -> str:
    """A calendar day, ``DD-MM-YYYY`` in the deployment's calendar (as seed 003's screens
    write dates). A datetime is first taken to the deployment's zone (the day there)."""
    if isinstance(day, datetime):
        day = to_local(day, local).date()
    return f"{day.day:02d}-{day.month:02d}-{year_text(day.year, local, language)}"


def parse_day(text: str) -> date:
    """A typed ``DD-MM-YYYY`` (``/`` or ``.`` also separate) back to a date.

    The screen asks for the year in the deployment's calendar, but a resident may write it in
    the era they know: the two ranges of living people's years never overlap, so a year of
    2300 or more is Buddhist era and one below is Gregorian, in any deployment (``2558`` and
    ``2015`` are the same year). ValueError when the text is no day.
    """
    match = _TYPED_DAY.fullmatch(text.strip())
    if match is None:
        raise ValueError("not a DD-MM-YYYY date")
    day, month, year = (int(part) for part in match.groups())
    if year >= _ERA_BOUNDARY:
        year -= BUDDHIST_ERA_OFFSET
    return date(year, month, day)


def calendar_name(local: LocalTime, language: str) -> str:
    """The deployment's calendar named in ``language`` (``พ.ศ.``, ``Phật lịch``, ...)."""
    return word("calendar", local.calendar, _language(language))
