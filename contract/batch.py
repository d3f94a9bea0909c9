"""Several transactions of one station in one MQTT message, on the same ``tx`` channel.

One message per transaction costs a PUBLISH, a PUBACK, a broker routing step and a server
wake-up each; a fleet draining its backlog after an outage spends most of its time there
(``bench/sync.py``, ``bench/city.py``). A batch changes the unit of transport only: the
server still decides, records and acks every transaction on its own (exactly once per
``tx_id``), so a batch may be cut, retried or regrouped freely by the station.

A payload on ``tx`` is either a single :class:`~contract.messages.Transaction` (what stations
of earlier releases send, and still accepted) or a :class:`TransactionBatch`. One bad
transaction inside a batch is refused alone: the others are applied and acked.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any

import msgspec

from contract.codec import MAX_PAYLOAD_BYTES, SUPPORTED_VERSIONS, decode, peek
from contract.errors import (
    ContractError,
    SchemaError,
)
from contract.messages import (
    SCHEMA_VERSION,
    TX_ID_PATTERN,
    Ack,
    AckItem,
    Message,
    StationId,
    Transaction,
)

#: Transactions per batch at most; the payload limit usually cuts a batch first.
MAX_BATCH = 500
#: Ack items per ack message at most (the schema's bound).
MAX_ACK_ITEMS = 1000
#: Room left in a batch for its envelope (``{"v":1,"station_id":...,"txs":[...]}``).
_ENVELOPE_BYTES = 128


class TransactionBatch(Message, kw_only=True):
    """The schema of a batch (documentation and validation); stations encode it with
    :func:`encode_batch`, which reuses each transaction's encoded bytes."""

    station_id: StationId
    txs: Annotated[list[Transaction], msgspec.Meta(min_length=1, max_length=MAX_BATCH)]


class _RawBatch(msgspec.Struct, kw_only=True):
    """A batch whose transactions stay undecoded, so each is judged on its own."""

    v: int = SCHEMA_VERSION
    station_id: Any = None
    txs: Annotated[list[msgspec.Raw], msgspec.Meta(min_length=1, max_length=MAX_BATCH)]


class _Shape(msgspec.Struct):
    # Raw: whether the key is there, without building the transactions as Python objects
    # (``Any`` did, and that was a quarter of the ingest's decoding).
    txs: msgspec.Raw = msgspec.Raw()


class _CheckedBatch(Message, kw_only=True):
    """A batch whose envelope is checked and whose transactions stay undecoded."""

    station_id: StationId
    txs: Annotated[list[msgspec.Raw], msgspec.Meta(min_length=1, max_length=MAX_BATCH)]


_shape_decoder = msgspec.json.Decoder(_Shape)
_raw_batch_decoder = msgspec.json.Decoder(_RawBatch)
_checked_batch_decoder = msgspec.json.Decoder(_CheckedBatch)
_encoder = msgspec.json.Encoder()


@dataclass(frozen=True)
class Refused:
    """A transaction of a payload that cannot be applied: why, and its id when it reads as a
    valid one (the server then acks it as rejected, so the station sets it aside)."""

    error: ContractError
    tx_id: str | None = None


def encode_batch(station_id: str, encoded: list[bytes]) -> bytes:
    """One ``tx`` payload for already-encoded transactions: the bare transaction when there
    is one (what every server release understands), a batch otherwise. The caller keeps the
    total under :data:`MAX_PAYLOAD_BYTES` (see :func:`fits`)."""
    if not encoded:
        raise ValueError("a batch holds at least one transaction")
    if len(encoded) == 1:
        return encoded[0]
    batch = _RawBatch(station_id=station_id, txs=[msgspec.Raw(item) for item in encoded])
    return _encoder.encode(batch)


def fits(size_so_far: int, count_so_far: int, next_size: int, most: int | None = MAX_BATCH) -> bool:
    """Whether one more encoded item of ``next_size`` bytes fits in the message (and, with
    ``most``, whether the message holds fewer than that many)."""
    if most is not None and count_so_far >= most:
        return False
    # One comma per transaction after the first.
    return size_so_far + count_so_far + next_size + _ENVELOPE_BYTES <= MAX_PAYLOAD_BYTES


def ack_payloads(station_id: str, items: list[AckItem], server_time: datetime) -> list[bytes]:
    """The acks for ``items`` in as few messages as fit the payload limit (a batch of
    batches is acked by the hundreds; a rejection's reason may be long)."""
    payloads: list[bytes] = []
    group: list[AckItem] = []
    size = 0
    for item in items:
        item_size = len(_encoder.encode(item))
        if group and (len(group) >= MAX_ACK_ITEMS or not fits(size, len(group), item_size, None)):
            payloads.append(
                _encoder.encode(Ack(station_id=station_id, server_time=server_time, results=group))
            )
            group, size = [], 0
        group.append(item)
        size += item_size
    if group:
        payloads.append(
            _encoder.encode(Ack(station_id=station_id, server_time=server_time, results=group))
        )
    return payloads


def decode_transactions(payload: bytes) -> list[Transaction | Refused]:
    """The transactions of a ``tx`` payload, in order, each decoded or refused on its own.

    Raises :class:`ContractError` when the payload as a whole is unreadable (not JSON, too
    large, a batch without transactions, an unknown schema version).
    """
    batch: _CheckedBatch | _RawBatch | None = _well_formed_batch(payload)
    if batch is None:
        # Not a batch as every station of ours writes it: the checks one by one, for the
        # exact error (or a single transaction, as earlier releases send).
        if not len(peek(payload, _shape_decoder).txs):
            return [decode(payload, Transaction)]
        decode(payload, _Envelope)  # the batch's own version and station id
        try:
            batch = _raw_batch_decoder.decode(payload)
        except msgspec.ValidationError as exc:
            raise SchemaError(f"not a transaction batch: {exc}", field="txs") from None
    items: list[Transaction | Refused] = []
    for raw in batch.txs:
        data = bytes(raw)
        try:
            tx = decode(data, Transaction)
        except ContractError as exc:
            items.append(Refused(exc, _readable_tx_id(data)))
            continue
        if tx.station_id != batch.station_id:
            items.append(Refused(SchemaError("station id differs from the batch's"), tx.tx_id))
            continue
        items.append(tx)
    return items


def _well_formed_batch(payload: bytes) -> _CheckedBatch | None:
    """The batch in one pass when it is well formed (``v`` first, supported, a valid station
    id, 1 to :data:`MAX_BATCH` transactions), else ``None``."""
    if not payload.startswith(b'{"v":') or len(payload) > MAX_PAYLOAD_BYTES:
        return None
    try:
        batch = _checked_batch_decoder.decode(payload)
    except msgspec.DecodeError:  # ValidationError included
        return None
    return batch if type(batch.v) is int and batch.v in SUPPORTED_VERSIONS else None


class _Envelope(Message, kw_only=True):
    station_id: StationId


class _TxIdOnly(msgspec.Struct):
    tx_id: Any = None


_tx_id_decoder = msgspec.json.Decoder(_TxIdOnly)
_TX_ID = re.compile(TX_ID_PATTERN)


def _readable_tx_id(data: bytes) -> str | None:
    try:
        tx_id = _tx_id_decoder.decode(data).tx_id
    except msgspec.MsgspecError:
        return None
    return tx_id if isinstance(tx_id, str) and _TX_ID.match(tx_id) else None
