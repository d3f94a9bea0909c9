"""A petition's tables: the petition (its number minted on the station), its status history
and its assignment to an officer. Only ``sync_server.petitions`` reads or writes them."""

from __future__ import annotations

import peewee

from sync_server.db import BaseModel, utc_now


class Petition(BaseModel):
    """A petition or correction request; the number was minted on the station."""

    number = peewee.CharField(primary_key=True, max_length=48)
    tx_id = peewee.CharField(max_length=36, unique=True)
    station_id = peewee.CharField(max_length=32)
    service = peewee.CharField(max_length=40)
    phone = peewee.CharField(max_length=10)
    citizen_id = peewee.CharField(max_length=13, null=True)
    form = peewee.TextField(default="{}")
    status = peewee.CharField(max_length=24, default="received")
    filed_station_time = peewee.DateTimeField()
    received_at = peewee.DateTimeField(index=True)
    #: The kiosk's language when it was filed (th, vi, en): the citizen's SMS are in it.
    language = peewee.CharField(max_length=8, null=True)

    class Meta:
        # A station's petitions, and those of its recent window (its SMS budget): migration 013.
        indexes = ((("station_id", "received_at"), False),)


class PetitionStatusChange(BaseModel):
    """One step of a petition's status history: who moved it from what to what, and why.

    The first step (``received``) is the petition row itself; these rows are what followed.
    """

    id = peewee.BigAutoField()
    petition = peewee.ForeignKeyField(
        Petition, column_name="number", backref="status_changes", on_delete="CASCADE"
    )
    from_status = peewee.CharField(max_length=24)
    to_status = peewee.CharField(max_length=24)
    actor = peewee.CharField(max_length=64)
    at = peewee.DateTimeField(default=utc_now, index=True)
    comment = peewee.TextField(null=True)


class PetitionAssignment(BaseModel):
    """Which officer a petition is assigned to (the back office's queue)."""

    petition = peewee.ForeignKeyField(
        Petition, primary_key=True, column_name="number", on_delete="CASCADE"
    )
    assignee = peewee.CharField(max_length=64, index=True)
    assigned_by = peewee.CharField(max_length=64)
    assigned_at = peewee.DateTimeField(default=utc_now)


class PetitionSerial(BaseModel):
    """The highest petition serial the server has applied from each station.

    Kept by the ingest in the batch that applies the petitions (``petitions/filing.py``), so
    a replacement station's numbering continues above it (``dcs-provision station replace``)
    and a serial far beyond it is refused: only what the server applied moves it, never a
    figure a station reports.
    """

    station_id = peewee.CharField(primary_key=True, max_length=32)
    highest = peewee.IntegerField()
    updated_at = peewee.DateTimeField(default=utc_now)


MODELS = [Petition, PetitionStatusChange, PetitionAssignment, PetitionSerial]
