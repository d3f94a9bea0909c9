"""The one interface a clinic sits behind: free slots, book one, cancel a booking.

A real deployment plugs its clinic's system in by implementing :class:`ClinicAdapter` (or by
speaking :mod:`sync_server.checkups.http`'s JSON over HTTP). Times are aware datetimes;
the clinic never learns the resident's citizen id, only a pseudonymous ``patient_ref``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol


class ClinicError(Exception):
    """Root of the clinic adapters' errors."""


class ClinicUnavailableError(ClinicError):
    """The clinic did not answer, or answered nonsense: try again later."""


class SlotTakenError(ClinicError):
    """The clinic says the slot is no longer free."""


@dataclass(frozen=True)
class ClinicSlot:
    """A free slot as the clinic lists it (``slot_id`` is the clinic's own name for it)."""

    slot_id: str
    starts_at: datetime
    ends_at: datetime
    kind: str = "general"


@dataclass(frozen=True)
class ClinicBooking:
    """What the clinic answers to a booking: its reference and the video-call link."""

    clinic_ref: str
    video_url: str


class ClinicAdapter(Protocol):
    """A clinic that offers check-ups by video call."""

    #: A short code naming the clinic in slot ids (``clinic-a``).
    name: str

    def free_slots(self, start: datetime, end: datetime) -> list[ClinicSlot]:
        """The free slots starting between ``start`` and ``end``, soonest first."""
        ...

    def book(self, slot_id: str, patient_ref: str) -> ClinicBooking:
        """Book ``slot_id``; :class:`SlotTakenError` when it is not free any more."""
        ...

    def cancel(self, clinic_ref: str) -> None:
        """Cancel a booking (cancelling one already cancelled is not an error)."""
        ...
