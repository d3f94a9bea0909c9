"""The station's exception tree; leaves also inherit the builtin callers expect."""

from __future__ import annotations


class StationError(Exception):
    """Root of every station error."""


class ConfigError(StationError, ValueError):
    """The station configuration is missing or invalid."""


class SyncError(StationError):
    """Root of errors talking to the server."""


class ServerUnavailableError(SyncError, ConnectionError):
    """The station is offline: not connected to the broker."""


class LookupTimeoutError(SyncError, TimeoutError):
    """The server did not answer a live lookup in time."""
