"""The notices table."""

from __future__ import annotations

import peewee

from sync_server.db import BaseModel, utc_now


class PublicNotice(BaseModel):
    """One notice as operations wrote it, and whether it reached the broker."""

    id = peewee.AutoField()
    notice_id = peewee.CharField(max_length=32, unique=True)
    scope = peewee.CharField(max_length=16)  # all | district | buildings
    district = peewee.CharField(max_length=64, null=True)
    #: Comma-separated building codes (``buildings`` scope).
    buildings = peewee.CharField(max_length=2000, default="")
    starts_at = peewee.DateTimeField()
    ends_at = peewee.DateTimeField(index=True)
    title_th = peewee.CharField(max_length=120)
    body_th = peewee.TextField(default="")
    title_vi = peewee.CharField(max_length=120)
    body_vi = peewee.TextField(default="")
    title_en = peewee.CharField(max_length=120)
    body_en = peewee.TextField(default="")
    created_by = peewee.CharField(max_length=64)
    created_at = peewee.DateTimeField(default=utc_now)
    #: When the broker last confirmed it (``None``: not yet; the page offers to try again).
    published_at = peewee.DateTimeField(null=True)
    withdrawn_at = peewee.DateTimeField(null=True)
    withdrawn_by = peewee.CharField(max_length=64, null=True)


MODELS = [PublicNotice]
