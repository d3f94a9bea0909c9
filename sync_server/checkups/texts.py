"""The SMS a resident gets about a check-up, queued in the SMS outbox, written at send time.

The appointment is in the clinic's local time (``CHECKUP_TIMEZONE``; Thai texts in the
Buddhist era as everything else the resident reads); the booked SMS carries the video-call
link, the cancelled one does not. No name, no citizen id.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from sync_server.i18n import N_, sms_text
from sync_server.petitions.notify import reader_language
from sync_server.sms.outbox import register_template

BOOKED_TEMPLATE = "checkup.booked"
CANCELLED_TEMPLATE = "checkup.cancelled"
DEFAULT_TIMEZONE = "Asia/Bangkok"

BOOKED = N_("Check-up booked for %(time)s (booking %(ref)s). Join the video call: %(link)s")
CANCELLED = N_("Your check-up of %(time)s (booking %(ref)s) is cancelled.")


def local_time(at: datetime, language: str, zone: str) -> str:
    """``at`` in the clinic's zone as ``DD/MM/YYYY HH:MM`` (Buddhist era in Thai)."""
    local = at.astimezone(ZoneInfo(zone))
    year = local.year + 543 if language == "th" else local.year
    return f"{local.day:02d}/{local.month:02d}/{year} {local:%H:%M}"


def timezone_of(config: Mapping[str, Any]) -> str:
    """The clinic's time zone from the config."""
    return str(config.get("CHECKUP_TIMEZONE") or DEFAULT_TIMEZONE)


def _booked(params: Mapping[str, Any], language: str, config: Mapping[str, Any]) -> str:
    language = reader_language(language, config)
    time = local_time(datetime.fromisoformat(params["starts_at"]), language, timezone_of(config))
    return sms_text(BOOKED, language, time=time, ref=params["ref"], link=params["video_url"])


def _cancelled(params: Mapping[str, Any], language: str, config: Mapping[str, Any]) -> str:
    language = reader_language(language, config)
    time = local_time(datetime.fromisoformat(params["starts_at"]), language, timezone_of(config))
    return sms_text(CANCELLED, language, time=time, ref=params["ref"])


register_template(BOOKED_TEMPLATE, _booked)
register_template(CANCELLED_TEMPLATE, _cancelled)
