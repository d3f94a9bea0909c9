"""The words the station and the server both show, from one catalogue per language.

``contract/translations/<lang>/LC_MESSAGES/shared.po`` holds them, each family under its own
``msgctxt``: a petition's status (so the kiosk, its slip, the tracking page, the back office
and the SMS say the same words), the eras and calendars :mod:`contract.local_time` writes,
and hospitals' names by their official Thai name. The ``.po`` is read directly with Babel
(nothing to compile) and kept for the life of the process.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

from babel.messages.pofile import read_po

LANGUAGES = ("th", "vi", "en")
TRANSLATIONS = Path(__file__).resolve().parent / "translations"
DOMAIN = "shared"
#: The families of words (``msgctxt``) the catalogue holds.
FAMILIES = ("petition status", "era", "calendar", "hospital")


@cache
def words(language: str) -> dict[tuple[str, str], str]:
    """Every word of ``language``'s catalogue: (family, key) → text."""
    with (TRANSLATIONS / language / "LC_MESSAGES" / f"{DOMAIN}.po").open("rb") as handle:
        catalog = read_po(handle, locale=language)
    return {(message.context, message.id): message.string for message in catalog if message.id}


def word(family: str, key: str, language: str) -> str:
    """The text of ``key`` in ``language`` (English for a language we do not have); the key
    itself when the catalogue lacks it, so an unknown code shows as itself."""
    table = words(language if language in LANGUAGES else "en")
    return table.get((family, key)) or key


def status_word(status: str, language: str) -> str:
    """A petition status (``received``, ``in_review``...) as every screen and text says it."""
    return word("petition status", status, language)


def hospital_name(official: str, language: str) -> str | None:
    """A hospital's name in ``language`` from its official Thai name; None when the catalogue
    has no translation (the screen then shows the official name and says it is one)."""
    table = words(language if language in LANGUAGES else "en")
    return table.get(("hospital", official)) or None
