"""Field types shared by the API's schemas."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from marshmallow import fields


class UtcDateTime(fields.DateTime):
    """An RFC 3339 time with its offset; a naive value from the database is UTC.

    PostgreSQL's ``timestamp`` columns hand back naive times; the server writes only UTC.
    """

    def _serialize(self, value: datetime | None, attr: str | None, obj: Any, **kwargs: Any):
        if value is not None and value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return super()._serialize(value, attr, obj, **kwargs)
