"""Building a station's replica update: which residents, split into parts, each sealed.

A part must stay under the contract's 64 KiB once sealed and base64-encoded, so records are
grouped by their encoded size and a group whose compressed content is still too big is
split in two.
"""

from __future__ import annotations

import uuid
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import msgspec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from contract import InsuredRecord, ReplicaContent, ReplicaEnvelope, encode
from contract.replica_seal import seal_part
from sync_server.records.changes import changed_since
from sync_server.records.read import building_residents, insured_records

#: Compressed content per part: base64 makes it 4/3 larger, and the envelope adds ~300 bytes.
PART_BUDGET = 44_000
#: Raw bytes of records to try in one part before measuring (records compress about 4:1).
RAW_GUESS = 150_000

_encoder = msgspec.json.Encoder(decimal_format="string")


@dataclass(frozen=True)
class Update:
    """What one update carries before it is split and sealed."""

    mode: str  # "full" or "delta"
    building: str
    base_cursor: int | None
    cursor: int
    records: list[InsuredRecord]
    removed: list[str]


def full_update(building: str, cursor: int) -> Update:
    """Every insured resident of ``building`` (``cursor``: the change id read beforehand)."""
    records = insured_records(building_residents(building))
    return Update("full", building, None, cursor, list(records.values()), [])


def delta_update(building: str, base: int, cursor: int) -> Update:
    """What changed in ``building`` after change ``base`` up to ``cursor``.

    A changed resident who still lives there is sent whole; one who moved out or was
    removed is sent as a removal.
    """
    changed = changed_since(building, base, cursor)
    records = insured_records(changed)
    kept = [r for r in records.values() if r.building == building]
    staying = {r.citizen_id for r in kept}
    removed = [cid for cid in changed if cid not in staying]
    return Update("delta", building, base, cursor, kept, removed)


def _groups(records: Sequence[InsuredRecord], removed: Sequence[str]) -> list[tuple[list, list]]:
    """Records and removals grouped so that each group's compressed content fits a part."""
    groups: list[tuple[list, list]] = []
    current: list[InsuredRecord] = []
    size = 0
    for record in records:
        encoded = len(_encoder.encode(record))
        if current and size + encoded > RAW_GUESS:
            groups.append((current, []))
            current, size = [], 0
        current.append(record)
        size += encoded
    groups.append((current, []))
    # Removals are 16 bytes each: thousands fit in one part.
    for start in range(0, len(removed), 2000):
        groups.append(([], list(removed[start : start + 2000])))
    if len(groups) > 1 and groups[0] == ([], []):
        groups.pop(0)
    fitted: list[tuple[list, list]] = []
    while groups:
        group = groups.pop(0)
        body = _encoder.encode({"records": group[0], "removed": group[1]})
        if len(zlib.compress(body, 6)) <= PART_BUDGET or len(group[0]) + len(group[1]) <= 1:
            fitted.append(group)
        else:
            recs, rems = group
            half_r, half_m = len(recs) // 2, len(rems) // 2
            groups[:0] = [(recs[:half_r], rems[:half_m]), (recs[half_r:], rems[half_m:])]
    return fitted


def seal_update(
    update: Update,
    *,
    station_id: str,
    station_public: bytes,
    signing_key: Ed25519PrivateKey,
    as_of: datetime,
    request_id: str | None = None,
) -> list[ReplicaEnvelope]:
    """The sealed parts of ``update`` for one station, ready to publish in order."""
    update_id = uuid.uuid4().hex
    groups = _groups(update.records, update.removed)
    envelopes = []
    for number, (records, removed) in enumerate(groups, start=1):
        content = ReplicaContent(
            station_id=station_id,
            building=update.building,
            update_id=update_id,
            request_id=request_id,
            mode=update.mode,
            base_cursor=update.base_cursor,
            cursor=update.cursor,
            as_of=as_of,
            part=number,
            parts=len(groups),
            records=records,
            removed=removed,
        )
        envelope = seal_part(
            _encoder.encode(content),
            station_id=station_id,
            station_public=station_public,
            signing_key=signing_key,
        )
        encode(envelope)  # raises PayloadTooLargeError rather than publish what cannot arrive
        envelopes.append(envelope)
    return envelopes
