"""What the public tracking page does, without Flask: start (send a code), verify, history.

No enumeration: a number/phone pair that does not match a petition gets a decoy ticket
(:meth:`OtpService.issue_decoy`) that behaves exactly like a real one but whose code nobody
knows, so the page answers the same for a wrong pair, an unknown petition and a right pair.
The page's own rate limits (per IP, per petition number, per phone) are checked before the
petition is looked up, so they too answer the same whatever the records hold.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from contract.identifiers import (
    InvalidPetitionNumberError,
    InvalidThaiMobileError,
    normalize_petition_number,
    normalize_thai_mobile,
)
from sync_server.otp import (
    OtpDeliveryError,
    OtpRateLimitedError,
    OtpService,
    OtpTicket,
    subject_of,
)
from sync_server.petitions import service as petitions
from sync_server.ratelimit import Limit

log = logging.getLogger(__name__)

PURPOSE = "tracking"


class TrackingInputError(ValueError):
    """The petition number or the phone number is not well formed (``field`` names which)."""

    def __init__(self, field: str) -> None:
        super().__init__(f"{field} is not well formed")
        self.field = field


@dataclass(frozen=True)
class TrackingLimits:
    """The page's rate limits (``TRACK_*`` in the server config)."""

    starts_per_ip: Limit
    starts_per_number: Limit
    starts_per_phone: Limit
    codes_per_ip: Limit

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> TrackingLimits:
        """The limits from ``TRACK_*`` keys: per 15 minutes, 10 starts per IP, 3 per petition
        number, 3 per phone, 30 code tries per IP, unless ``config`` says otherwise."""
        window = timedelta(seconds=float(config.get("TRACK_WINDOW_S", 900)))
        return cls(
            Limit("track-ip", int(config.get("TRACK_IP_LIMIT", 10)), window),
            Limit("track-number", int(config.get("TRACK_NUMBER_LIMIT", 3)), window),
            Limit("track-phone", int(config.get("TRACK_PHONE_LIMIT", 3)), window),
            Limit("track-code-ip", int(config.get("TRACK_CODE_IP_LIMIT", 30)), window),
        )


def normalize_number(text: str) -> str:
    """A petition number as typed (spaces, lower case) → canonical, or TrackingInputError.

    Only the shape is checked: a wrong check character gets the same answer as an unknown
    number, so the page tells nothing it need not.
    """
    try:
        return normalize_petition_number(text or "")
    except InvalidPetitionNumberError:
        raise TrackingInputError("number") from None


def normalize_phone(text: str) -> str:
    """``081-234-5678`` or ``081 234 5678`` → ``0812345678``, or TrackingInputError."""
    try:
        return normalize_thai_mobile(text or "")
    except InvalidThaiMobileError:
        raise TrackingInputError("phone") from None


def start(
    number_text: str,
    phone_text: str,
    *,
    ip: str,
    otp: OtpService,
    limits: TrackingLimits,
    language: str | None = None,
) -> tuple[str, OtpTicket]:
    """Check the input and the limits, then send a code (SMS in ``language``, None: the
    default) if the pair matches a petition.

    Returns the canonical number and a ticket — real or decoy, indistinguishable to the caller's
    caller. Raises :class:`TrackingInputError` or ``RateLimitedError``.
    """
    number = normalize_number(number_text)
    phone = normalize_phone(phone_text)
    otp.limiter.hit(
        [
            (limits.starts_per_ip, ip),
            (limits.starts_per_number, number),
            (limits.starts_per_phone, phone),
        ]
    )
    if petitions.phone_matches(number, phone):
        try:
            return number, otp.issue(
                phone, PURPOSE, language=language, subject=tracking_subject(number)
            )
        except (OtpRateLimitedError, OtpDeliveryError) as exc:
            # The citizen sees the same page as anyone; the code just does not arrive.
            log.warning("tracking code not sent: %s", type(exc).__name__)
    return number, otp.issue_decoy(PURPOSE)


def tracking_subject(number: str) -> str:
    """What a tracking code is bound to: the canonical petition number it was sent for."""
    return subject_of(number)


def verify(
    ticket_id: str,
    code: str,
    *,
    number: str,
    ip: str,
    otp: OtpService,
    limits: TrackingLimits,
) -> bool:
    """Check a code typed for petition ``number`` (canonical), rate-limited per IP against
    brute force over tickets. A code sent for another petition never opens this one.

    Raises what :meth:`OtpService.verify` raises, and ``RateLimitedError``.
    """
    otp.limiter.hit([(limits.codes_per_ip, ip)])
    return otp.verify(PURPOSE, code, ticket_id=ticket_id, subject=tracking_subject(number))


@dataclass(frozen=True)
class PublicStep:
    """One line of the public history: a status and when; never who or why."""

    status: str
    at: datetime


def status_history(number: str) -> list[PublicStep]:
    """The petition's status history, stripped to what the public may see."""
    return [PublicStep(step.status, step.at) for step in petitions.history(number)]
