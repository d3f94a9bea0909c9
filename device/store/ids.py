"""Identifiers minted on the station without asking the server.

Petition numbers are formatted and checked by :mod:`contract.identifiers` (the server parses
them too); the station only supplies the serial, from its store's durable counter.
"""

from __future__ import annotations

import os
import threading
import time

from contract.identifiers import is_valid_petition_number, petition_number

__all__ = ["is_valid_petition_number", "new_tx_id", "petition_number"]

_RAND_B_MASK = (1 << 62) - 1
_id_lock = threading.Lock()
_last_ms = 0


def new_tx_id() -> str:
    """A UUIDv7 (RFC 9562): unique fleet-wide, and its time prefix keeps one station's ids in order.

    48 bits of Unix milliseconds, then 74 random bits. Within one millisecond the timestamp
    is bumped by one, so ids minted by this process never go backwards (as the ``uuid6``
    package does). Formatted by hand because it sits on the durable-enqueue hot path, where
    building a ``uuid.UUID`` object cost as much as validating the whole body.
    """
    global _last_ms
    with _id_lock:
        ms = time.time_ns() // 1_000_000
        if ms <= _last_ms:
            ms = _last_ms + 1
        _last_ms = ms
    rand = int.from_bytes(os.urandom(10))  # 80 bits; 74 of them are used
    value = (
        (ms & 0xFFFF_FFFF_FFFF) << 80
        | 0x7 << 76  # version 7
        | ((rand >> 64) & 0xFFF) << 64  # rand_a
        | 0b10 << 62  # the RFC 4122/9562 variant
        | (rand & _RAND_B_MASK)  # rand_b
    )
    text = f"{value:032x}"
    return f"{text[:8]}-{text[8:12]}-{text[12:16]}-{text[16:20]}-{text[20:]}"
