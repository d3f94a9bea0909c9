"""The contract's exception tree.

Every error derives from :class:`ContractError`, which is a :class:`ValueError`, so callers
that only know builtins still catch bad input correctly.
"""

from __future__ import annotations


class ContractError(ValueError):
    """A message or topic does not satisfy the wire contract."""


class MalformedMessageError(ContractError):
    """The payload is not a JSON object at all."""


class SchemaError(ContractError):
    """The payload is JSON but a field is missing, has the wrong type or an invalid value."""

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


class UnsupportedVersionError(ContractError):
    """The payload carries a schema version this side does not speak."""

    def __init__(self, version: object, supported: tuple[int, ...]) -> None:
        super().__init__(
            f"unsupported schema version {version!r} (supported: {', '.join(map(str, supported))})"
        )
        self.version = version
        self.supported = supported


class PayloadTooLargeError(ContractError):
    """The payload is bigger than the contract's size limit."""

    def __init__(self, size: int, limit: int) -> None:
        super().__init__(f"payload of {size} bytes exceeds the {limit}-byte limit")
        self.size = size
        self.limit = limit


class TopicError(ContractError):
    """A topic is outside the contract's topic tree or names an invalid station id."""
