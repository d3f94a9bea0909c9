"""Operators (officers, operations staff, administrators) and their sessions."""

from __future__ import annotations

import peewee

from sync_server.db import BaseModel, utc_now

ROLES = ("officer", "operations", "administrator", "building_manager")


class Operator(BaseModel):
    """A personal account; never shared (seed 003)."""

    id = peewee.AutoField()
    username = peewee.CharField(max_length=32, unique=True)
    password_hash = peewee.CharField(max_length=200)
    role = peewee.CharField(max_length=16, choices=[(r, r) for r in ROLES])
    first_name = peewee.CharField(max_length=64, default="")
    last_name = peewee.CharField(max_length=64, default="")
    position = peewee.CharField(max_length=64, default="")
    citizen_id = peewee.CharField(max_length=13, default="")
    email = peewee.CharField(max_length=254, default="")
    phone = peewee.CharField(max_length=11, default="")
    must_change_password = peewee.BooleanField(default=True)
    locked = peewee.BooleanField(default=False)
    locked_reason = peewee.CharField(max_length=128, default="")
    created_at = peewee.DateTimeField(default=utc_now)
    password_changed_at = peewee.DateTimeField(null=True)

    @property
    def display_name(self) -> str:
        """First and last name, or the username before the profile is filled in."""
        name = f"{self.first_name} {self.last_name}".strip()
        return name or self.username


class OperatorSession(BaseModel):
    """One login on one machine; live while ``ended_at`` is null."""

    id = peewee.AutoField()
    operator = peewee.ForeignKeyField(Operator, backref="sessions", on_delete="CASCADE")
    token_hash = peewee.CharField(max_length=64, unique=True)
    machine = peewee.CharField(max_length=128)
    started_at = peewee.DateTimeField(default=utc_now)
    last_seen_at = peewee.DateTimeField(default=utc_now, index=True)
    ended_at = peewee.DateTimeField(null=True, index=True)
    end_reason = peewee.CharField(max_length=16, null=True)  # logout | abandoned | unlocked


MODELS = [Operator, OperatorSession]
