"""The words citizens and officers see for statuses and services.

A status reads the same on the kiosk, its slip, the tracking page, the back office and the
SMS: the words live in the shared vocabulary (``contract/vocabulary.py``). Service names are
English msgids translated by the server's catalogues (sync_server/i18n.py). Times are written
by ``sync_server/local_time.py``.
"""

from __future__ import annotations

from flask import has_request_context
from flask_babel import gettext

from contract.vocabulary import status_word
from sync_server.i18n import N_, current_language, resolve_language, translate

#: Services a station files (``device/station.py`` SERVICE_TITLES): their msgids.
SERVICE_NAMES: dict[str, str] = {
    "general_petition": N_("General petition"),
    "population_correction": N_("Population data correction"),
}


def status_text(status: str, language: str | None = None) -> str:
    """``status`` in ``language``; without one, in the page's language (or the default)."""
    return status_word(status, resolve_language(language) if language else current_language())


def service_text(service: str, language: str | None = None) -> str:
    """``service`` in ``language``; without one, in the page's language (or the default)."""
    if service not in SERVICE_NAMES:
        return service  # an unknown service shows as itself
    if language is None and has_request_context():
        return gettext(SERVICE_NAMES[service])  # the page's language
    return translate(SERVICE_NAMES[service], language)
