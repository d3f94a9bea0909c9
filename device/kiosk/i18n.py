"""The kiosk's languages: Thai by default, Vietnamese and English; one catalogue each.

Every string on a screen is a key looked up in ``translations/<lang>/LC_MESSAGES/messages.po``
(gettext, through Flask-Babel): templates and code hold keys only. The compiled ``.mo`` files
are build artefacts: :func:`compile_catalogues` makes them at ``make setup`` and again at app
start whenever a ``.po`` is newer. Baht are formatted here with thousands separators; dates,
years and times through :mod:`contract.local_time` (the deployment's zone and calendar, the
same helper the receipts and the server use), and the words the server shares — petition
statuses, hospital names — from :mod:`contract.vocabulary`.

``python -m device.kiosk.i18n`` compiles the catalogues.
"""

from __future__ import annotations

import os
import tempfile
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from flask import Flask, current_app, g
from flask_babel import Babel

from contract import local_time as lt
from contract.vocabulary import hospital_name, status_word

LANGUAGES = ("th", "vi", "en")
#: How each language names itself on the switcher (never translated).
LANGUAGE_NAMES = {"th": "ไทย", "vi": "Tiếng Việt", "en": "English"}
TRANSLATIONS = Path(__file__).resolve().parent / "translations"
_LOCAL_TIME = "DCS_LOCAL_TIME"


def compile_catalogues(source: Path = TRANSLATIONS, target: Path | None = None) -> Path:
    """Compile every ``.po`` under ``source`` whose ``.mo`` is missing or older.

    Writes beside the ``.po`` (or under ``target``); returns the directory holding the
    ``.mo`` files. Falls back to a temporary directory when the package is read-only.
    """
    target = target or source
    try:
        _compile_into(source, target)
    except PermissionError:
        target = Path(tempfile.mkdtemp(prefix="dcs-kiosk-i18n-"))
        _compile_into(source, target)
    return target


def _compile_into(source: Path, target: Path) -> None:
    for po in sorted(source.glob("*/LC_MESSAGES/messages.po")):
        lang = po.parts[-3]
        mo = target / lang / "LC_MESSAGES" / "messages.mo"
        if mo.exists() and mo.stat().st_mtime >= po.stat().st_mtime:
            continue
        with po.open("rb") as handle:
            catalog = read_po(handle, locale=lang)
        mo.parent.mkdir(parents=True, exist_ok=True)
        partial = mo.with_suffix(".mo.partial")
        with partial.open("wb") as handle:
            write_mo(handle, catalog)
        os.replace(partial, mo)


def catalogue_keys(lang: str, source: Path = TRANSLATIONS) -> dict[str, str]:
    """Every key of one language's catalogue and its text (for tests and checks)."""
    with (source / lang / "LC_MESSAGES" / "messages.po").open("rb") as handle:
        catalog = read_po(handle, locale=lang)
    return {message.id: message.string for message in catalog if message.id}


def init_app(app: Flask, default_language: str, local_time: lt.LocalTime | None = None) -> None:
    """Compile the catalogues, set up Flask-Babel and the number, date and word filters;
    ``local_time`` is the station's deployment zone and calendar."""
    directory = compile_catalogues()
    app.config["BABEL_TRANSLATION_DIRECTORIES"] = str(directory)
    app.config["BABEL_DEFAULT_LOCALE"] = default_language
    app.config[_LOCAL_TIME] = local_time or lt.LocalTime()

    def locale() -> str:
        return getattr(g, "lang", None) or default_language

    Babel(app, locale_selector=locale)
    app.jinja_env.filters.update(
        baht=format_baht,
        day=format_day,
        year=format_year,
        clock=format_clock,
        hour=format_hour,
        status_word=lambda status: status_word(status, _lang(None)),
        hospital=hospital_text,
        money=format_money,
    )
    app.jinja_env.globals["calendar_name"] = lambda: lt.calendar_name(_local(), _lang(None))


def format_baht(value: Decimal | int | float | None) -> str:
    """``72900.5`` → ``72,900.50`` (the same in all three languages on this kiosk)."""
    if value is None:
        return "-"
    return f"{Decimal(value):,.2f}"


def _lang(lang: str | None) -> str:
    return lang or getattr(g, "lang", None) or "th"


def _local() -> lt.LocalTime:
    return current_app.config.get(_LOCAL_TIME) or lt.LocalTime()


def format_money(value: Decimal | None, currency: str = "THB") -> str:
    """``1,234.50`` baht, ``150,000`` dong (no decimals); never through a float."""
    if value is None:
        return "-"
    places = 0 if currency == "VND" else 2
    return f"{Decimal(value):,.{places}f}"


def format_day(value: date | datetime | None, lang: str | None = None) -> str:
    """``DD-MM-YYYY`` in the deployment's calendar (contract/local_time.py)."""
    if value is None:
        return "-"
    return lt.format_day(value, _local(), _lang(lang))


def format_year(year: int, lang: str | None = None) -> str:
    """A year in the deployment's calendar (with its era where the language needs it)."""
    return lt.year_text(year, _local(), _lang(lang))


def format_clock(value: datetime | None, lang: str | None = None) -> str:
    """A date and time in the deployment's zone and calendar."""
    if value is None:
        return "-"
    return lt.format_moment(value, _local(), _lang(lang))


def format_hour(value: datetime | None) -> str:
    """The time of day, ``HH:MM``, in the deployment's zone (whatever zone ``value`` came in)."""
    if value is None:
        return "-"
    return f"{lt.to_local(value, _local()):%H:%M}"


def local_day(value: datetime) -> date:
    """The calendar day ``value`` falls on in the deployment's zone (to group slots by)."""
    return lt.to_local(value, _local()).date()


def hospital_text(official: str | None, lang: str | None = None) -> dict[str, object] | None:
    """A hospital's name for the screen, None for no hospital: ``name`` in the reader's
    language, ``official`` the official Thai name to show beside it ("" when ``name`` is it),
    ``untranslated`` when a vi/en screen can only show the Thai name (it then says so)."""
    if not official:
        return None
    lang = _lang(lang)
    translated = hospital_name(official, lang)
    if lang == "th" or translated == official:
        return {"name": official, "official": "", "untranslated": False}
    if translated is None:
        return {"name": official, "official": "", "untranslated": True}
    return {"name": translated, "official": official, "untranslated": False}


if __name__ == "__main__":
    print(compile_catalogues())
