"""Receiving a station's diagnostics parts: only what a command the server sent allows.

The station is not trusted. A part is kept only if it answers a ``collect_diagnostics``
command the server sent to that very station, arrives before the command's time to live ends
(plus :data:`GRACE`), agrees with the parts before it (count, digest), and the bundle stays
within ``DIAGNOSTICS_MAX_BYTES``. One bundle per command: once it is whole, nothing more is
taken for that command. A refusal raises :class:`DiagnosticsRefused`; the ingest records it
like any refused message.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta

import peewee

from contract import DIAGNOSTICS_MAX_BYTES, DiagnosticsPart
from sync_server.audit import audit
from sync_server.dashboard.models import CommandRecord
from sync_server.db import write_transaction
from sync_server.diagnostics.models import DiagnosticsBundle
from sync_server.diagnostics.models import DiagnosticsPart as StoredPart

COMMAND = "collect_diagnostics"
#: Parts still accepted this long after the command's time to live (a slow upload).
GRACE = timedelta(minutes=10)
#: Bundles kept per station; older ones are deleted when a new one is whole.
KEEP_PER_STATION = 10


class DiagnosticsRefused(ValueError):
    """A part the server will not keep; the message says why (never its content)."""


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def accept_part(part: DiagnosticsPart, station_id: str, received_at: datetime) -> str:
    """Keep one part from ``station_id`` (the topic's, which the broker authenticated).

    Returns ``stored``, ``complete`` (the bundle is whole and saved) or ``duplicate`` (a
    redelivery of a part already kept); raises :class:`DiagnosticsRefused`.
    """
    if part.station_id != station_id:
        raise DiagnosticsRefused("station id in the payload does not match the topic")
    if part.part > part.parts:
        raise DiagnosticsRefused(f"part {part.part} of {part.parts}")
    with write_transaction():
        command = CommandRecord.get_or_none(CommandRecord.command_id == part.command_id)
        if command is None or command.station_id != station_id or command.name != COMMAND:
            raise DiagnosticsRefused(f"no {COMMAND} command {part.command_id} for this station")
        if received_at > _aware(command.expires_at) + GRACE:
            raise DiagnosticsRefused("arrived after the command's time to live")
        whole = DiagnosticsBundle.get_or_none(DiagnosticsBundle.command_id == part.command_id)
        if whole is not None:
            if whole.sha256 == part.sha256:
                return "duplicate"
            raise DiagnosticsRefused("this command's bundle was received already")
        earlier = list(
            StoredPart.select(StoredPart.part, StoredPart.parts, StoredPart.sha256).where(
                StoredPart.command_id == part.command_id
            )
        )
        if any(p.parts != part.parts or p.sha256 != part.sha256 for p in earlier):
            raise DiagnosticsRefused("the part does not match the parts before it")
        if any(p.part == part.part for p in earlier):
            return "duplicate"
        # The schema bounds a part (DIAGNOSTICS_PART_BYTES) and the count of parts, so what
        # is kept per command never exceeds DIAGNOSTICS_MAX_BYTES.
        StoredPart.create(
            command_id=part.command_id,
            part=part.part,
            parts=part.parts,
            sha256=part.sha256,
            data=part.data,
            received_at=received_at,
        )
        if len(earlier) + 1 < part.parts:
            return "stored"
        failure = _assemble(part, station_id, received_at)
    if failure is not None:  # raised once the bad parts' deletion is committed
        raise DiagnosticsRefused(failure)
    return "complete"


def _assemble(part: DiagnosticsPart, station_id: str, received_at: datetime) -> str | None:
    """Join the parts (inside the caller's transaction), check size and digest, save the
    bundle; the parts are deleted either way. Returns what was wrong, or ``None``."""
    rows = (
        StoredPart.select(StoredPart.data)
        .where(StoredPart.command_id == part.command_id)
        .order_by(StoredPart.part)
    )
    data = b"".join(bytes(row.data) for row in rows)
    StoredPart.delete().where(StoredPart.command_id == part.command_id).execute()
    if len(data) > DIAGNOSTICS_MAX_BYTES:
        return f"the bundle exceeds {DIAGNOSTICS_MAX_BYTES} bytes"
    if hashlib.sha256(data).hexdigest() != part.sha256:
        return "the bundle does not match its digest"
    DiagnosticsBundle.create(
        command_id=part.command_id,
        station_id=station_id,
        received_at=received_at,
        size=len(data),
        sha256=part.sha256,
        content=data,
    )
    audit(f"station:{station_id}", "diagnostics.received", station_id, f"{len(data)} bytes")
    _prune(station_id)
    return None


def _prune(station_id: str) -> None:
    keep = (
        DiagnosticsBundle.select(DiagnosticsBundle.command_id)
        .where(DiagnosticsBundle.station_id == station_id)
        .order_by(DiagnosticsBundle.received_at.desc())
        .limit(KEEP_PER_STATION)
    )
    DiagnosticsBundle.delete().where(
        (DiagnosticsBundle.station_id == station_id)
        & DiagnosticsBundle.command_id.not_in([row.command_id for row in keep])
    ).execute()


def bundles(station_id: str) -> list[DiagnosticsBundle]:
    """A station's bundles, newest first (without their content)."""
    return list(
        DiagnosticsBundle.select(
            DiagnosticsBundle.command_id,
            DiagnosticsBundle.station_id,
            DiagnosticsBundle.received_at,
            DiagnosticsBundle.size,
            DiagnosticsBundle.sha256,
        )
        .where(DiagnosticsBundle.station_id == station_id)
        .order_by(DiagnosticsBundle.received_at.desc())
    )


def bundle(station_id: str, command_id: str) -> DiagnosticsBundle | None:
    """One bundle with its content, or ``None``."""
    try:
        return DiagnosticsBundle.get(
            (DiagnosticsBundle.station_id == station_id)
            & (DiagnosticsBundle.command_id == command_id)
        )
    except peewee.DoesNotExist:
        return None
