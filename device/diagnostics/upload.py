"""Sending a bundle to the server: parts on the station's ``diagnostics`` topic, for one command.

The server keeps parts only for a ``collect_diagnostics`` command it sent to this station (one
bundle per command, bounded in size), so the station sends nothing of its own accord.
"""

from __future__ import annotations

import hashlib

from contract import (
    DIAGNOSTICS_MAX_BYTES,
    DIAGNOSTICS_PART_BYTES,
    Channel,
    DiagnosticsPart,
    encode,
)
from device.sync.link import Link


def send_bundle(link: Link, command_id: str, data: bytes) -> int:
    """Publish ``data`` (QoS 1) as the answer to ``command_id``; returns how many parts."""
    if not data or len(data) > DIAGNOSTICS_MAX_BYTES:
        raise ValueError(f"a bundle must be 1 to {DIAGNOSTICS_MAX_BYTES} bytes, not {len(data)}")
    digest = hashlib.sha256(data).hexdigest()
    chunks = [
        data[start : start + DIAGNOSTICS_PART_BYTES]
        for start in range(0, len(data), DIAGNOSTICS_PART_BYTES)
    ]
    for number, chunk in enumerate(chunks, start=1):
        part = DiagnosticsPart(
            command_id=command_id,
            station_id=link.station_id,
            part=number,
            parts=len(chunks),
            sha256=digest,
            data=chunk,
        )
        link.publish(Channel.DIAGNOSTICS, encode(part))
    return len(chunks)
