"""Petitions for the back-office and tracking tests, applied by the server's own ingest code.

``file_petitions`` builds the ``petition.filed`` transactions a station would send (numbers
minted by the station's code) and applies them with ``apply_batch``, exactly what the ingest
worker does with what arrives over MQTT. The browser tests go through the broker instead.
"""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

from contract import Transaction
from device.store.ids import new_tx_id, petition_number
from sync_server.db import database
from sync_server.ingest.apply import Received, apply_batch

PHONE = "0812345678"
_ARRIVALS = itertools.count()  # each petition arrives a minute after the one filed before it


def file_petitions(
    station_id: str,
    count: int,
    *,
    service: str = "general_petition",
    phone: str = PHONE,
    first_serial: int = 1,
    citizen_id: str | None = None,
    form: dict[str, str] | None = None,
    language: str | None = None,
) -> list[str]:
    """Apply ``count`` petitions from ``station_id`` and return their numbers."""
    start = datetime(2026, 11, 24, 9, tzinfo=UTC)
    batch = []
    numbers = []
    for offset in range(count):
        number = petition_number(station_id, first_serial + offset)
        body: dict[str, object] = {
            "number": number,
            "service": service,
            "phone": phone,
            "form": form or {"subject": "ไฟทางเดินชั้น 3 ดับ"},
        }
        if citizen_id is not None:
            body["citizen_id"] = citizen_id
        if language is not None:
            body["language"] = language
        tx = Transaction(
            tx_id=new_tx_id(),
            station_id=station_id,
            seq=first_serial + offset,
            kind="petition.filed",
            station_time=start + timedelta(minutes=offset),
            body=body,
        )
        # Distinct arrival times keep the queue's order (oldest first) well defined.
        received_at = start + timedelta(minutes=next(_ARRIVALS), seconds=5)
        batch.append(Received(tx=tx, received_at=received_at))
        numbers.append(number)
    _acks, rejected = apply_batch(database.obj, batch)
    assert not rejected, rejected
    _LAST_BATCH[:] = batch
    return numbers


_LAST_BATCH: list[Received] = []


def last_batch() -> list[Received]:
    """The transactions :func:`file_petitions` applied last (to deliver them again)."""
    return list(_LAST_BATCH)
