"""The record of a refused message: its topic, reason, size and hash, never its content."""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable

import peewee

from contract import MAX_PAYLOAD_BYTES, ContractError, PayloadTooLargeError, parse_station_topic
from sync_server.ingest.models import RejectedMessage

log = logging.getLogger(__name__)

#: ``(topic, station id or None, tx id or None, reason, size, payload's SHA-256)``.
Recorder = Callable[[str, str | None, str | None, str, int, str], None]


def record_refusal(
    db: peewee.Database,
    topic: str,
    station_id: str | None,
    tx_id: str | None,
    reason: str,
    size: int,
    payload_sha256: str,
) -> None:
    """Keep a refused message's topic, reason, size and hash; a database error is logged
    (the message is refused either way)."""
    log.warning("rejected a message on %s: %s", topic, reason)
    try:
        with db.atomic():
            RejectedMessage.create(
                topic=topic[:255],
                topic_station_id=station_id,
                tx_id=tx_id,
                reason=reason[:2000],
                size=size,
                payload_sha256=payload_sha256,
            )
    except peewee.DatabaseError:
        log.exception("could not record a rejected message")


def digest(payload: bytes) -> str:
    """The SHA-256 of ``payload`` as the record keeps it."""
    return hashlib.sha256(payload).hexdigest()


def record_oversized(record: Recorder, topic: str, size: int, payload_sha256: str) -> None:
    """Record a message refused on arrival for its size (its station read from the topic)."""
    try:
        station_id: str | None = parse_station_topic(topic)[0]
    except ContractError:
        station_id = None
    reason = str(PayloadTooLargeError(size, MAX_PAYLOAD_BYTES))
    record(topic, station_id, None, reason, size, payload_sha256)
