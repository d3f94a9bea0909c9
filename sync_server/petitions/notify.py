"""The SMS a citizen gets about their petition (seed 004), queued in the SMS outbox.

- on filing: the petition number and the tracking link (queued by the ingest worker with the
  petition, see ``filing.py``);
- on each status change: the number, the new status and the link (queued with the change).

Both come from sender OSS-LOCAL, in the language the petition was filed in (the server's
``DEFAULT_LANGUAGE`` when the station did not say), and carry nothing else: no name, no form
content, no officer's comment. The text is written when the SMS is sent, from the server's
catalogues, and the link from ``TRACKING_URL`` (the same the stations print on receipts).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sync_server.i18n import sms_text, supported_language
from sync_server.petitions.labels import status_text
from sync_server.sms.outbox import enqueue, register_template
from sync_server.sms.texts import PETITION_RECEIVED, STATUS_CHANGED

FILED_TEMPLATE = "petition.filed"
STATUS_TEMPLATE = "petition.status"


def tracking_link(config: Mapping[str, Any], number: str) -> str:
    """The public tracking page of ``number``: ``TRACKING_URL`` with ``{number}``, else this
    server's ``/track`` page when ``SERVER_NAME`` is set; KeyError when neither is."""
    template = config.get("TRACKING_URL")
    if template:
        return str(template).format(number=number)
    if config.get("SERVER_NAME"):
        scheme = config.get("PREFERRED_URL_SCHEME") or "https"
        return f"{scheme}://{config['SERVER_NAME']}/track?number={number}"
    raise KeyError("TRACKING_URL")  # the outbox marks the message failed, audited


def reader_language(language: str | None, config: Mapping[str, Any]) -> str:
    """The petition's language when the server speaks it, else the configured default."""
    return (
        supported_language(language) or supported_language(config.get("DEFAULT_LANGUAGE")) or "th"
    )


def _filed_text(params: Mapping[str, Any], language: str, config: Mapping[str, Any]) -> str:
    number = params["number"]
    return sms_text(
        PETITION_RECEIVED,
        reader_language(language, config),
        number=number,
        link=tracking_link(config, number),
    )


def _status_text(params: Mapping[str, Any], language: str, config: Mapping[str, Any]) -> str:
    language = reader_language(language, config)
    number = params["number"]
    return sms_text(
        STATUS_CHANGED,
        language,
        number=number,
        status=status_text(params["status"], language),
        link=tracking_link(config, number),
    )


register_template(FILED_TEMPLATE, _filed_text)
register_template(STATUS_TEMPLATE, _status_text)


def queue_status_sms(petition: Any, to_status: str, change_id: int) -> int | None:
    """Queue the status-change SMS in the caller's transaction; the outbox message id."""
    return enqueue(
        petition.phone,
        STATUS_TEMPLATE,
        {"number": petition.number, "status": to_status},
        language=petition.language,
        dedupe_key=f"petition.status:{change_id}",
    )
