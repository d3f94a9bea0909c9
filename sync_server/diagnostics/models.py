"""The diagnostics tables: parts being received, and whole bundles."""

from __future__ import annotations

import peewee

from sync_server.db import BaseModel, utc_now


class DiagnosticsPart(BaseModel):
    """One received part of a bundle not yet whole (deleted once it is)."""

    command_id = peewee.CharField(max_length=36)
    part = peewee.IntegerField()
    parts = peewee.IntegerField()
    sha256 = peewee.CharField(max_length=64)
    data = peewee.BlobField()
    received_at = peewee.DateTimeField(default=utc_now)

    class Meta:
        primary_key = peewee.CompositeKey("command_id", "part")


class DiagnosticsBundle(BaseModel):
    """A station's whole diagnostics bundle (a zip), one per ``collect_diagnostics`` command."""

    command_id = peewee.CharField(primary_key=True, max_length=36)
    station_id = peewee.CharField(max_length=32, index=True)
    received_at = peewee.DateTimeField(default=utc_now, index=True)
    size = peewee.IntegerField()
    sha256 = peewee.CharField(max_length=64)
    content = peewee.BlobField()


MODELS = [DiagnosticsPart, DiagnosticsBundle]
