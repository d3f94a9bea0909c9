"""The words citizens and officers see for statuses and services, and how times read.

The names are English msgids translated by the server's catalogues (sync_server/i18n.py):
one set of words for the back office, the tracking page and the SMS texts; code uses the keys.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

from babel.dates import format_datetime
from flask import has_request_context
from flask_babel import gettext

from sync_server.i18n import N_, current_language, translate

#: Petition statuses (keys of ``sync_server.petitions.service.TRANSITIONS``): their msgids.
STATUS_NAMES: dict[str, str] = {
    "received": N_("Received"),
    "in_review": N_("In review"),
    "waiting_for_citizen": N_("Waiting for the applicant"),
    "approved": N_("Approved"),
    "rejected": N_("Rejected"),
    "closed": N_("Closed"),
}

#: Services a station files (``device/station.py`` SERVICE_TITLES): their msgids.
SERVICE_NAMES: dict[str, str] = {
    "general_petition": N_("General petition"),
    "population_correction": N_("Population data correction"),
}


def _translated(names: dict[str, str], key: str, language: str | None) -> str:
    if key not in names:
        return key  # an unknown status or service shows as itself
    if language is None and has_request_context():
        return gettext(names[key])  # the page's language
    return translate(names[key], language)


def status_text(status: str, language: str | None = None) -> str:
    """``status`` in ``language``; without one, in the page's language (or the default)."""
    return _translated(STATUS_NAMES, status, language)


def service_text(service: str, language: str | None = None) -> str:
    """``service`` in ``language``; without one, in the page's language (or the default)."""
    return _translated(SERVICE_NAMES, service, language)


def status_label(status: str) -> tuple[str, str]:
    """(Thai, English) for ``status``; an unknown one shows as itself."""
    return status_text(status, "th"), status_text(status, "en")


def service_label(service: str) -> tuple[str, str]:
    """(Thai, English) for ``service``; an unknown one shows as itself."""
    return service_text(service, "th"), service_text(service, "en")


#: Thailand keeps UTC+7 all year (no daylight saving).
THAI_TIME = timezone(timedelta(hours=7), "ICT")
THAI_MONTHS = [
    "ม.ค.",
    "ก.พ.",
    "มี.ค.",
    "เม.ย.",
    "พ.ค.",
    "มิ.ย.",
    "ก.ค.",
    "ส.ค.",
    "ก.ย.",
    "ต.ค.",
    "พ.ย.",
    "ธ.ค.",
]


def local_time(value: datetime, language: str | None = None) -> str:
    """A server time in Thai time, written the way ``language`` (default: the page's) reads it.

    Thai: day, Thai month, Buddhist-era year and ``น.``; Vietnamese: ``dd/MM/yyyy HH:mm``;
    English: ``05 Jan 2026, 14:30``.
    """
    language = language or current_language()
    local = (value if value.tzinfo else value.replace(tzinfo=UTC)).astimezone(THAI_TIME)
    if language == "th":
        return f"{local.day} {THAI_MONTHS[local.month - 1]} {local.year + 543} {local:%H:%M} น."
    if language == "vi":
        return format_datetime(local, "dd/MM/yyyy HH:mm", locale="vi")
    return f"{local:%d %b %Y, %H:%M}"
