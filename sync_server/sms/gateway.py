"""The SMS gateway interface every driver implements, its errors, and number and code masking."""

from __future__ import annotations

import re
from typing import Protocol, runtime_checkable

from contract.identifiers import is_valid_thai_mobile

#: The sender name citizens know from seed 004's OTP messages.
DEFAULT_SENDER = "OSS-LOCAL"


class SmsError(Exception):
    """Root of the SMS errors."""


class SmsAddressError(SmsError, ValueError):
    """The number is not a Thai mobile number (``0`` and nine digits)."""


class SmsDeliveryError(SmsError):
    """The gateway did not accept the message (after its retries)."""


@runtime_checkable
class SmsGateway(Protocol):
    """Something that sends one text message and returns the gateway's message id."""

    def send(self, to: str, text: str, sender: str = DEFAULT_SENDER) -> str:
        """Send ``text`` to the mobile number ``to``; raise :class:`SmsDeliveryError` on failure."""
        ...


def check_number(to: str) -> str:
    """``to`` as a Thai mobile number, or :class:`SmsAddressError`."""
    if not isinstance(to, str) or not is_valid_thai_mobile(to):
        raise SmsAddressError("not a Thai mobile number (0 and nine digits)")
    return to


#: A one-time code (``sync_server.otp``: six digits) standing alone in a text; petition
#: serials (seven digits) and phone numbers (ten) are longer, so they do not match.
_ONE_TIME_CODE = re.compile(r"(?<![0-9])[0-9]{6}(?![0-9])")
#: What a masked code shows: as long as the code, none of its digits.
CODE_MASK = "\u2022" * 6


def mask_codes(text: str) -> str:
    """``text`` with every one-time code shown as ``••••••``: staff may see that a code was
    sent, never the code (it would let them act as the citizen)."""
    return _ONE_TIME_CODE.sub(CODE_MASK, text)


def mask_phone(phone: str) -> str:
    """``0812345678`` → ``081-XXX-5678``: enough for staff to tell numbers apart, no more."""
    if len(phone) < 7:
        return "X" * len(phone)
    return f"{phone[:3]}-{'X' * (len(phone) - 7)}-{phone[-4:]}"
