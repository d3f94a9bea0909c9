"""Medical check-ups with telemedicine (seed 002): what the kiosk and the server exchange.

The kiosk asks on its ``service`` topic (``checkup.slots``, ``checkup.book``,
``checkup.cancel``, ``checkup.mine``; see :data:`contract.messages.ServiceAction`); the
server answers with :class:`CheckupSlot` and :class:`CheckupBooking`. Times carry the
clinic's local offset (the server converts them), so a kiosk shows them as they are.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

import msgspec

#: A slot as the clinic names it, prefixed by the clinic (``clinic-a:2026-12-07T09:00``).
SlotId = Annotated[str, msgspec.Meta(pattern=r"^[a-z0-9][a-z0-9-]{0,31}:[A-Za-z0-9:._-]{1,64}$")]
#: Our booking reference (hex), printed in the SMS and shown on screen.
BookingRef = Annotated[str, msgspec.Meta(pattern=r"^[0-9A-F]{8}$")]
AwareDatetime = Annotated[datetime, msgspec.Meta(tz=True)]


class CheckupSlot(msgspec.Struct, kw_only=True):
    """A free appointment: when, and with what kind of doctor (a code the kiosk translates)."""

    slot: SlotId
    starts_at: AwareDatetime
    ends_at: AwareDatetime
    kind: Annotated[str, msgspec.Meta(pattern=r"^[a-z][a-z0-9_]{1,31}$")] = "general"


class CheckupBooking(msgspec.Struct, kw_only=True):
    """A booked (or cancelled) check-up of the card holder."""

    ref: BookingRef
    slot: SlotId
    starts_at: AwareDatetime
    ends_at: AwareDatetime
    video_url: Annotated[str, msgspec.Meta(max_length=300)]
    state: Literal["booked", "cancelled"]
    #: The phone the SMS went to, masked (``081-XXX-5678``).
    phone_masked: Annotated[str, msgspec.Meta(max_length=16)] | None = None
