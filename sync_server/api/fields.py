"""Field types shared by the API's schemas."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from marshmallow import ValidationError, fields, validate


class UtcDateTime(fields.DateTime):
    """An RFC 3339 time with its offset; a naive value from the database is UTC.

    PostgreSQL's ``timestamp`` columns hand back naive times; the server writes only UTC.
    """

    def _serialize(self, value: datetime | None, attr: str | None, obj: Any, **kwargs: Any):
        if value is not None and value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return super()._serialize(value, attr, obj, **kwargs)


class WholeMatch(validate.Regexp):
    """A regular expression the whole value must match, documented as the field's ``pattern``.

    ``re.match`` lets ``$`` match before a trailing newline; JSON Schema's ``pattern`` does
    not, so the server must not either (else it accepts what its own document refuses).
    """

    def __call__(self, value: str) -> str:
        if self.regex.fullmatch(value) is None:
            raise ValidationError(self._format_error(value))
        return value


class UtcInput(fields.AwareDateTime):
    """An RFC 3339 time from a request, stored as naive UTC (a time without offset is UTC).

    Naive UTC reads back the same on SQLite and PostgreSQL; an instant beyond what Python
    can hold in UTC (year 1 or 9999 with an offset) is kept as the nearest it can.
    """

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(default_timezone=UTC, **kwargs)

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> datetime:
        parsed = super()._deserialize(value, attr, data, **kwargs)
        try:
            return parsed.astimezone(UTC).replace(tzinfo=None)
        except OverflowError:
            return datetime.max if parsed.year > 1 else datetime.min
