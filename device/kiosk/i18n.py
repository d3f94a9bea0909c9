"""The kiosk's languages: Thai by default, Vietnamese and English; one catalogue each.

Every string on a screen is a key looked up in ``translations/<lang>/LC_MESSAGES/messages.po``
(gettext, through Flask-Babel): templates and code hold keys only. The compiled ``.mo`` files
are build artefacts: :func:`compile_catalogues` makes them at ``make setup`` and again at app
start whenever a ``.po`` is newer. Numbers and dates are formatted here too: baht with
thousands separators, dates as ``DD-MM-YYYY`` in the Buddhist era for Thai (as seed 003's
screens show them), years in the Buddhist era with the Gregorian year beside it for the
other languages.

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
from flask import Flask, g
from flask_babel import Babel

LANGUAGES = ("th", "vi", "en")
#: How each language names itself on the switcher (never translated).
LANGUAGE_NAMES = {"th": "ไทย", "vi": "Tiếng Việt", "en": "English"}
TRANSLATIONS = Path(__file__).resolve().parent / "translations"
BUDDHIST_ERA_OFFSET = 543


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


def init_app(app: Flask, default_language: str) -> None:
    """Compile the catalogues, set up Flask-Babel and the number and date filters."""
    directory = compile_catalogues()
    app.config["BABEL_TRANSLATION_DIRECTORIES"] = str(directory)
    app.config["BABEL_DEFAULT_LOCALE"] = default_language

    def locale() -> str:
        return getattr(g, "lang", None) or default_language

    Babel(app, locale_selector=locale)
    app.jinja_env.filters.update(
        baht=format_baht,
        day=format_day,
        year=format_year,
        clock=format_clock,
        money=format_money,
    )


def format_baht(value: Decimal | int | float | None) -> str:
    """``72900.5`` → ``72,900.50`` (the same in all three languages on this kiosk)."""
    if value is None:
        return "-"
    return f"{Decimal(value):,.2f}"


def format_money(value: Decimal | None, currency: str = "THB") -> str:
    """``1,234.50`` baht, ``150,000`` dong (no decimals); never through a float."""
    if value is None:
        return "-"
    places = 0 if currency == "VND" else 2
    return f"{Decimal(value):,.{places}f}"


def format_day(value: date | datetime | None, lang: str | None = None) -> str:
    """``DD-MM-YYYY``: Buddhist era in Thai, Gregorian otherwise."""
    if value is None:
        return "-"
    lang = lang or getattr(g, "lang", "th")
    year = value.year + (BUDDHIST_ERA_OFFSET if lang == "th" else 0)
    return f"{value.day:02d}-{value.month:02d}-{year}"


def format_year(year: int, lang: str | None = None) -> str:
    """A year in the Buddhist era; other languages also give the Gregorian year."""
    lang = lang or getattr(g, "lang", "th")
    buddhist = year + BUDDHIST_ERA_OFFSET
    return str(buddhist) if lang == "th" else f"{buddhist} ({year})"


def format_clock(value: datetime | None, lang: str | None = None) -> str:
    """A date and time, ``DD-MM-YYYY HH:MM`` (local time of the station)."""
    if value is None:
        return "-"
    local = value.astimezone() if value.tzinfo else value
    return f"{format_day(local, lang)} {local:%H:%M}"


if __name__ == "__main__":
    print(compile_catalogues())
