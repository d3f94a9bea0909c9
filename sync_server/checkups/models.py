"""The check-up bookings table."""

from __future__ import annotations

import peewee

from sync_server.db import BaseModel, utc_now


class CheckupBooking(BaseModel):
    """One check-up booked at a station for the card holder.

    ``active_slot`` and ``active_citizen`` are set while the booking holds its slot
    (``pending`` while the clinic is asked, then ``booked``) and cleared on cancelling: their
    unique indexes make a second booking of a slot, or a second booking of a resident,
    impossible whatever the workers do at the same moment.
    """

    id = peewee.AutoField()
    ref = peewee.CharField(max_length=8, unique=True)
    clinic = peewee.CharField(max_length=32)
    slot = peewee.CharField(max_length=100)
    starts_at = peewee.DateTimeField()
    ends_at = peewee.DateTimeField()
    citizen_id = peewee.CharField(max_length=13, index=True)
    station_id = peewee.CharField(max_length=32)
    language = peewee.CharField(max_length=8, null=True)
    state = peewee.CharField(max_length=16)  # pending | booked | cancelled
    clinic_ref = peewee.CharField(max_length=64, null=True)
    video_url = peewee.CharField(max_length=300, null=True)
    active_slot = peewee.CharField(max_length=100, null=True, unique=True)
    active_citizen = peewee.CharField(max_length=13, null=True, unique=True)
    created_at = peewee.DateTimeField(default=utc_now)
    cancelled_at = peewee.DateTimeField(null=True)


MODELS = [CheckupBooking]
