"""The SMS a citizen gets when their petition's status changes."""

from __future__ import annotations

import json

from sync_server.backoffice.labels import status_text
from sync_server.i18n import resolve_language, sms_text, supported_language
from sync_server.sms.texts import STATUS_CHANGED


def status_sms_text(
    number: str, status: str, tracking_url: str, language: str | None = None
) -> str:
    """The message: petition number, new status and the tracking link, in ``language``
    (None: the configured default).

    Nothing else: no name, no form content, no officer's comment (comments are internal).
    """
    language = resolve_language(language)
    return sms_text(
        STATUS_CHANGED,
        language,
        number=number,
        status=status_text(status, language),
        link=tracking_url,
    )


def petition_language(form_json: str | None) -> str | None:
    """The language the petition was filed in, when its station recorded one (the form's
    ``language`` entry: the contract has no field for it), else None."""
    try:
        form = json.loads(form_json or "{}")
    except ValueError:
        return None
    language = form.get("language") if isinstance(form, dict) else None
    return supported_language(language) if isinstance(language, str) else None
