"""The server's languages: Thai, Vietnamese and English, from gettext catalogues.

Every text a citizen reads — the tracking page, the SMS, status names — is an English msgid
marked with ``_()``/``gettext`` (code, templates) or :func:`N_` (tables of texts), translated
in ``translations/<lang>/LC_MESSAGES/messages.po``. The English catalogue repeats each msgid
so that every language is checked the same way (tests/test_server_catalogue.py). Staff pages
use the same catalogues in Thai and English; Vietnamese falls back to the English msgid.

Pages get their language from Flask-Babel (:func:`select_language`): ``?lang=``, then the
``dcs-lang`` cookie that ``?lang=`` sets, then ``Accept-Language``, then ``DEFAULT_LANGUAGE``.

SMS are composed outside any request, often in workers that hold no Flask app at all (the
kiosk-services and ingest workers build their services from the config alone), so
:func:`sms_text` loads Babel's :class:`~babel.support.Translations` directly, one cached
object per language, and takes the language as an argument. ``flask_babel.force_locale``
would need an app context in every worker and gives nothing more.

``python -m sync_server.i18n`` compiles the catalogues (``make setup``; the app also
compiles any ``.po`` newer than its ``.mo`` at start).
"""

from __future__ import annotations

import os
import tempfile
from datetime import timedelta
from functools import cache
from pathlib import Path
from urllib.parse import urlencode

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import Translations
from flask import Flask, Response, current_app, has_app_context, has_request_context, request
from flask_babel import Babel, get_locale

from sync_server.config import DEFAULTS

LANGUAGES = ("th", "vi", "en")
#: Staff pages are translated into these; another language shows the English msgids.
STAFF_LANGUAGES = ("th", "en")
#: How each language names itself on the language switch (never translated).
LANGUAGE_NAMES = {"th": "ไทย", "vi": "Tiếng Việt", "en": "English"}
TRANSLATIONS = Path(__file__).resolve().parent / "translations"
DOMAIN = "messages"
LANGUAGE_COOKIE = "dcs-lang"
LANGUAGE_COOKIE_AGE = timedelta(days=365)


def N_(message: str) -> str:
    """Mark ``message`` for the catalogues without translating it (tables built at import)."""
    return message


def compile_catalogues(source: Path = TRANSLATIONS, target: Path | None = None) -> Path:
    """Compile every ``.po`` under ``source`` whose ``.mo`` is missing or older.

    Writes beside the ``.po`` (or under ``target``); returns the directory holding the
    ``.mo`` files. Falls back to a temporary directory when the package is read-only.
    """
    target = target or source
    try:
        _compile_into(source, target)
    except PermissionError:
        target = Path(tempfile.mkdtemp(prefix="dcs-server-i18n-"))
        _compile_into(source, target)
    return target


def _compile_into(source: Path, target: Path) -> None:
    for po in sorted(source.glob(f"*/LC_MESSAGES/{DOMAIN}.po")):
        language = po.parts[-3]
        mo = target / language / "LC_MESSAGES" / f"{DOMAIN}.mo"
        if mo.exists() and mo.stat().st_mtime >= po.stat().st_mtime:
            continue
        with po.open("rb") as handle:
            catalog = read_po(handle, locale=language)
        mo.parent.mkdir(parents=True, exist_ok=True)
        partial = mo.with_suffix(".mo.partial")
        with partial.open("wb") as handle:
            write_mo(handle, catalog)
        os.replace(partial, mo)  # a worker starting meanwhile never reads half a file


@cache
def _compiled_directory() -> Path:
    return compile_catalogues()


@cache
def translations(language: str) -> Translations:
    """One language's compiled catalogue, loaded once per process (safe to share: read-only)."""
    loaded = Translations.load(str(_compiled_directory()), [language], DOMAIN)
    if not isinstance(loaded, Translations):
        raise LookupError(f"no compiled catalogue for {language!r}")
    return loaded


def default_language() -> str:
    """The configured ``DEFAULT_LANGUAGE`` (the app's when there is one, else the default)."""
    configured = current_app.config.get("DEFAULT_LANGUAGE") if has_app_context() else None
    return supported_language(configured) or str(DEFAULTS["DEFAULT_LANGUAGE"])


def supported_language(language: str | None) -> str | None:
    """``th``, ``vi`` or ``en`` for a tag such as ``vi`` or ``th-TH``; None otherwise."""
    if not language:
        return None
    primary = language.replace("_", "-").split("-", 1)[0].lower()
    return primary if primary in LANGUAGES else None


def resolve_language(language: str | None) -> str:
    """``language`` when it is one of ours, else the configured default."""
    return supported_language(language) or default_language()


def translate(message: str, language: str | None, **values: object) -> str:
    """``message`` (an English msgid) in ``language``, with ``%(name)s`` filled from ``values``.

    ``language`` None or unknown means the configured default. Works with or without a Flask
    app (workers): the catalogue is read directly, not through the request's locale.
    """
    text = translations(resolve_language(language)).gettext(message)
    return text % values if values else text


def sms_text(message: str, language: str | None, **values: object) -> str:
    """The text of an SMS to a citizen: ``message`` (a msgid) in the reader's ``language``.

    ``language`` None or unknown means the configured default. Usable from workers without a
    Flask app; see :func:`translate`. Example::

        sms_text(PETITION_RECEIVED, "vi", number=number, link=url)
    """
    return translate(message, language, **values)


def current_language() -> str:
    """The language of the page being rendered (the default outside a request)."""
    locale = get_locale() if has_request_context() else None
    return supported_language(str(locale) if locale else None) or default_language()


def select_language() -> str:
    """Flask-Babel's locale selector: ``?lang=``, the cookie, ``Accept-Language``, default."""
    if not has_request_context():
        return default_language()  # an app context alone: a command line, a test
    for asked in (request.args.get("lang"), request.cookies.get(LANGUAGE_COOKIE)):
        if asked in LANGUAGES:
            return asked
    return request.accept_languages.best_match(LANGUAGES) or default_language()


def language_links(languages: tuple[str, ...] = LANGUAGES) -> list[dict[str, object]]:
    """The language switch of the page being rendered: same page, same query, other ``lang``."""
    current = current_language()
    args = request.args.to_dict()
    return [
        {
            "code": code,
            "name": LANGUAGE_NAMES[code],
            "url": f"{request.path}?{urlencode({**args, 'lang': code})}",
            "current": code == current,
        }
        for code in languages
    ]


def _remember_language(response: Response) -> Response:
    """Keep a language chosen with ``?lang=`` for the next pages; pages vary by language."""
    asked = request.args.get("lang")
    if asked in LANGUAGES and request.cookies.get(LANGUAGE_COOKIE) != asked:
        response.set_cookie(
            LANGUAGE_COOKIE,
            asked,
            max_age=int(LANGUAGE_COOKIE_AGE.total_seconds()),
            secure=bool(current_app.config.get("SESSION_COOKIE_SECURE")),
            httponly=True,
            samesite="Lax",
        )
    if response.mimetype == "text/html":
        response.vary.update(("Accept-Language", "Cookie"))
    return response


def init_app(app: Flask) -> None:
    """Compile the catalogues and set up Flask-Babel, the language cookie and the switch."""
    app.config["BABEL_TRANSLATION_DIRECTORIES"] = str(_compiled_directory())
    app.config["BABEL_DEFAULT_LOCALE"] = resolve_language(app.config.get("DEFAULT_LANGUAGE"))
    app.config["BABEL_DOMAIN"] = DOMAIN
    Babel(app, locale_selector=select_language)
    app.after_request(_remember_language)

    @app.context_processor
    def language_context() -> dict[str, object]:
        return {
            "current_language": current_language,
            "language_links": language_links,
            "STAFF_LANGUAGES": STAFF_LANGUAGES,
        }


if __name__ == "__main__":
    print(compile_catalogues())
