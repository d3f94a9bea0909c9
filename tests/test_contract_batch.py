"""Several transactions per MQTT message (contract/batch.py): each still judged on its own."""

from __future__ import annotations

from datetime import UTC, datetime

import msgspec
import pytest

from contract import (
    MAX_PAYLOAD_BYTES,
    Ack,
    AckItem,
    MalformedMessageError,
    SchemaError,
    Transaction,
    UnsupportedVersionError,
    decode,
    encode,
)
from contract.batch import (
    MAX_ACK_ITEMS,
    MAX_BATCH,
    Refused,
    TransactionBatch,
    ack_payloads,
    decode_transactions,
    encode_batch,
    fits,
)
from device.store.ids import new_tx_id, petition_number


def petition(serial: int, station_id: str = "st-a", form: dict | None = None) -> Transaction:
    return Transaction(
        tx_id=new_tx_id(),
        station_id=station_id,
        seq=serial,
        kind="petition.filed",
        station_time=datetime.now(UTC),
        body={
            "number": petition_number(station_id, serial),
            "service": "general_petition",
            "phone": "0812345678",
            "form": form or {},
        },
    )


def test_one_transaction_travels_bare_as_every_server_release_reads_it():
    tx = petition(1)
    payload = encode_batch("st-a", [encode(tx)])
    assert decode(payload, Transaction) == tx
    assert decode_transactions(payload) == [tx]


def test_a_batch_decodes_to_its_transactions_in_order_and_matches_the_schema():
    txs = [petition(serial) for serial in range(1, 6)]
    payload = encode_batch("st-a", [encode(tx) for tx in txs])
    assert decode_transactions(payload) == txs
    assert decode(payload, TransactionBatch).txs == txs  # the documented schema


def test_a_bad_transaction_in_a_batch_is_refused_alone_with_its_id():
    good, other = petition(1), petition(2)
    foreign = petition(3, station_id="st-b")
    bad_kind = msgspec.json.encode({**msgspec.to_builtins(petition(4)), "kind": "Not A Kind"})
    unreadable = b'{"v": 1, "tx_id": 7}'
    payload = encode_batch(
        "st-a", [encode(good), bad_kind, encode(foreign), unreadable, encode(other)]
    )
    items = decode_transactions(payload)
    assert items[0] == good and items[4] == other
    assert isinstance(items[1], Refused) and items[1].error.field == "kind"
    assert items[1].tx_id == msgspec.json.decode(bad_kind)["tx_id"]
    assert isinstance(items[2], Refused) and items[2].tx_id == foreign.tx_id
    assert "differs from the batch" in str(items[2].error)
    assert isinstance(items[3], Refused) and items[3].tx_id is None  # no id to answer


@pytest.mark.parametrize(
    ("payload", "error"),
    [
        (b'{"v": 1, "station_id": "st-a", "txs": [', MalformedMessageError),
        (b'{"v": 1, "station_id": "st-a", "txs": []}', SchemaError),
        (b'{"v": 1, "station_id": "st-a", "txs": "no"}', SchemaError),
        (b'{"v": 2, "station_id": "st-a", "txs": [{}]}', UnsupportedVersionError),
        (b'{"v": 1, "station_id": "../x", "txs": [{}]}', SchemaError),
    ],
)
def test_an_unreadable_batch_is_refused_whole(payload, error):
    with pytest.raises(error):
        decode_transactions(payload)


def test_a_batch_in_another_key_order_or_spacing_decodes_the_same():
    """Ours is read in one pass (``v`` first, compact); any other valid shape takes the
    checks one by one and must come to the same transactions."""
    txs = [petition(serial) for serial in range(1, 4)]
    ours = encode_batch("st-a", [encode(tx) for tx in txs])
    listed = b", ".join(encode(tx) for tx in txs)
    reordered = b'{"txs": [' + listed + b'], "station_id": "st-a", "v": 1}'
    spaced = b'{ "v": 1, "station_id": "st-a", "txs": [' + listed + b"] }"
    assert decode_transactions(ours) == decode_transactions(reordered) == txs
    assert decode_transactions(spaced) == txs
    with pytest.raises(SchemaError):  # present but null: a batch that is not one
        decode_transactions(b'{"station_id": "st-a", "txs": null, "v": 1}')
    single = msgspec.json.encode({"tx_id": txs[0].tx_id, **msgspec.to_builtins(txs[0])})
    assert decode_transactions(single) == [txs[0]]  # no "txs": one bare transaction


def test_more_than_the_most_transactions_is_refused():
    encoded = [b"{}"] * (MAX_BATCH + 1)  # small, so the count is what is over
    with pytest.raises(SchemaError, match="txs"):
        decode_transactions(encode_batch("st-a", encoded))


def test_a_batch_cut_by_fits_stays_under_the_payload_limit():
    # Long forms: few fit, the byte limit cuts the batch before MAX_BATCH does.
    encoded = [encode(petition(n, form={"text": "ก" * 1200})) for n in range(1, 200)]
    group: list[bytes] = []
    size = 0
    for data in encoded:
        if group and not fits(size, len(group), len(data)):
            break
        group.append(data)
        size += len(data)
    payload = encode_batch("st-a", group)
    assert 1 < len(group) < len(encoded)
    assert len(payload) <= MAX_PAYLOAD_BYTES
    assert len(payload) + len(encoded[len(group)]) > MAX_PAYLOAD_BYTES - 1000
    assert len(decode_transactions(payload)) == len(group)


def test_acks_are_split_under_the_payload_limit_and_lose_no_item():
    items = [AckItem(tx_id=new_tx_id(), outcome="applied") for _ in range(2_500)]
    items += [AckItem(tx_id=new_tx_id(), outcome="rejected", reason="x" * 3000) for _ in range(40)]
    now = datetime.now(UTC)
    payloads = ack_payloads("st-a", items, now)
    acks = [decode(payload, Ack) for payload in payloads]
    assert all(len(payload) <= MAX_PAYLOAD_BYTES for payload in payloads)
    assert all(len(ack.results) <= MAX_ACK_ITEMS for ack in acks)
    assert [item for ack in acks for item in ack.results] == items
    assert {ack.station_id for ack in acks} == {"st-a"}
    assert {ack.server_time for ack in acks} == {now}
