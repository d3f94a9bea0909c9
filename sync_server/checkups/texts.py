"""The SMS a resident gets about a check-up, queued in the SMS outbox, written at send time.

The appointment is written as the kiosk writes it: ``DD-MM-YYYY HH:MM`` in the clinic's zone
(``CHECKUP_TIMEZONE``, by default the deployment's ``TIMEZONE``) and the deployment's calendar
(``CALENDAR``), through the same helper as every other time a resident reads. The booked SMS
carries the video-call link, the cancelled one does not. No name, no citizen id.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

import msgspec

from contract.local_time import format_day, to_local
from sync_server.i18n import N_, sms_text
from sync_server.local_time import deployment
from sync_server.petitions.notify import reader_language
from sync_server.sms.outbox import register_template

BOOKED_TEMPLATE = "checkup.booked"
CANCELLED_TEMPLATE = "checkup.cancelled"

BOOKED = N_("Check-up booked for %(time)s (booking %(ref)s). Join the video call: %(link)s")
CANCELLED = N_("Your check-up of %(time)s (booking %(ref)s) is cancelled.")


def local_time(at: datetime, language: str, config: Mapping[str, Any]) -> str:
    """``at`` as ``DD-MM-YYYY HH:MM`` in the clinic's zone and the deployment's calendar."""
    local = msgspec.structs.replace(deployment(config), timezone=timezone_of(config))
    return f"{format_day(at, local, language)} {to_local(at, local):%H:%M}"


def timezone_of(config: Mapping[str, Any]) -> str:
    """The clinic's time zone: ``CHECKUP_TIMEZONE``, else the deployment's."""
    return str(config.get("CHECKUP_TIMEZONE") or deployment(config).timezone)


def _booked(params: Mapping[str, Any], language: str, config: Mapping[str, Any]) -> str:
    language = reader_language(language, config)
    time = local_time(datetime.fromisoformat(params["starts_at"]), language, config)
    return sms_text(BOOKED, language, time=time, ref=params["ref"], link=params["video_url"])


def _cancelled(params: Mapping[str, Any], language: str, config: Mapping[str, Any]) -> str:
    language = reader_language(language, config)
    time = local_time(datetime.fromisoformat(params["starts_at"]), language, config)
    return sms_text(CANCELLED, language, time=time, ref=params["ref"])


register_template(BOOKED_TEMPLATE, _booked)
register_template(CANCELLED_TEMPLATE, _cancelled)
