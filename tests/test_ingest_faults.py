"""Bad input against the real broker and server: refused clearly, recorded, nothing lost."""

from __future__ import annotations

from datetime import UTC, datetime

import msgspec
import pytest

from contract import (
    MAX_PAYLOAD_BYTES,
    Ack,
    Channel,
    Transaction,
    decode,
    encode,
    station_topic,
)
from contract.batch import encode_batch
from device.store.ids import new_tx_id, petition_number
from sync_server.ingest.models import AppliedTransaction, RejectedMessage
from sync_server.petitions.models import Petition
from tests.api_tokens import bearer
from tests.helpers import wait_until
from tests.raw_client import RawClient

TX_TOPIC = station_topic("st-a", Channel.TX)


@pytest.fixture
def raw(broker):
    client = RawClient(broker, "st-a")
    yield client
    client.close()


def petition(station_id: str = "st-a", serial: int = 1, **overrides: object) -> Transaction:
    fields = {
        "tx_id": new_tx_id(),
        "station_id": station_id,
        "seq": serial,
        "kind": "petition.filed",
        "station_time": datetime.now(UTC),
        "body": {
            "number": petition_number(station_id, serial),
            "service": "general_petition",
            "phone": "0812345678",
        },
    }
    fields.update(overrides)
    return Transaction(**fields)


def acks_for(raw: RawClient, tx_id: str) -> list[str]:
    outcomes = []
    for message in list(raw.messages):
        for item in decode(message.payload, Ack).results:
            if item.tx_id == tx_id:
                outcomes.append(item.outcome)
    return outcomes


def assert_server_still_serves(raw: RawClient, serial: int = 99) -> None:
    tx = petition(serial=serial)
    raw.publish(TX_TOPIC, encode(tx))
    wait_until(
        lambda: AppliedTransaction.get_or_none(AppliedTransaction.tx_id == tx.tx_id),
        "a good transaction after the bad one",
    )


def rejection_reasons() -> list[str]:
    return [r.reason for r in RejectedMessage.select().order_by(RejectedMessage.id)]


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        (b'{"v": 1, "tx_id": ', "not valid JSON"),
        (b'"just a string"', "not a JSON object"),
        (b'{"v": 1, "tx_id": "x", "station_id": "st-a"}', "field 'tx_id'"),
        (b'{"v": 7, "tx_id": "x"}', "unsupported schema version 7"),
        (b'{"v": 1}' + b" " * MAX_PAYLOAD_BYTES, "exceeds the 65536-byte limit"),
    ],
    ids=["malformed-json", "not-an-object", "wrong-schema", "unknown-version", "oversized"],
)
def test_bad_payloads_are_rejected_recorded_and_the_server_keeps_serving(
    server_app, ingest, raw, payload, reason
):
    assert raw.publish(TX_TOPIC, payload).is_failure is False
    wait_until(lambda: RejectedMessage.select().count() == 1, "the rejection on record")
    [record] = RejectedMessage.select()
    assert reason in record.reason
    assert record.topic_station_id == "st-a"
    assert record.size == len(payload)
    assert len(record.payload_sha256) == 64
    assert_server_still_serves(raw)


def test_rejections_are_listed_by_the_api_without_content(server_app, ingest, raw):
    raw.publish(TX_TOPIC, b'{"v": 1, "phone": "0812345678"}')
    wait_until(lambda: RejectedMessage.select().count() == 1, "the rejection on record")
    client = server_app.test_client()
    body = client.get("/api/v1/ingest/rejections", headers=bearer()).get_data(as_text=True)
    assert "0812345678" not in body
    assert "tx_id" in body


def test_publishing_under_another_stations_topic_is_refused_by_the_broker(server_app, ingest, raw):
    forged = petition(station_id="st-b")
    reason = raw.publish(station_topic("st-b", Channel.TX), encode(forged))
    assert reason.is_failure
    assert str(reason) == "Not authorized"
    assert AppliedTransaction.get_or_none(AppliedTransaction.tx_id == forged.tx_id) is None


def test_a_station_cannot_read_another_stations_topics(broker, server_app, ingest, raw):
    # Mosquitto grants the SUBACK but filters every delivery through the ACL.
    raw.subscribe("dcs/v1/#")
    other = RawClient(broker, "st-b")
    try:
        other.subscribe(station_topic("st-b", Channel.ACK))
        tx = petition(station_id="st-b")
        other.publish(station_topic("st-b", Channel.TX), encode(tx))
        wait_until(lambda: acks_for(other, tx.tx_id), "st-b's own ack")
    finally:
        other.close()
    assert_server_still_serves(raw)
    wait_until(lambda: raw.messages, "st-a's own ack through the wildcard")
    assert {m.topic.split("/")[3] for m in raw.messages} == {"st-a"}


def test_a_station_cannot_publish_where_only_the_server_may(raw):
    assert raw.publish(station_topic("st-a", Channel.ACK), b"{}").is_failure
    assert raw.publish(station_topic("st-a", Channel.COMMAND), b"{}").is_failure


def test_payload_naming_another_station_is_rejected_recorded_and_answered(server_app, ingest, raw):
    raw.subscribe(station_topic("st-a", Channel.ACK))
    forged = petition(station_id="st-b")
    raw.publish(TX_TOPIC, encode(forged))
    wait_until(lambda: acks_for(raw, forged.tx_id), "the rejection ack")
    assert acks_for(raw, forged.tx_id) == ["rejected"]
    assert "does not match the topic" in rejection_reasons()[0]
    assert Petition.select().count() == 0
    assert_server_still_serves(raw)


def test_the_same_transaction_twice_is_applied_once_and_acked_twice(server_app, ingest, raw):
    raw.subscribe(station_topic("st-a", Channel.ACK))
    tx = petition()
    payload = encode(tx)
    raw.publish(TX_TOPIC, payload)
    wait_until(lambda: acks_for(raw, tx.tx_id) == ["applied"], "the first ack")
    raw.publish(TX_TOPIC, payload)
    wait_until(lambda: len(acks_for(raw, tx.tx_id)) == 2, "the second ack")
    assert acks_for(raw, tx.tx_id) == ["applied", "duplicate"]
    assert Petition.select().count() == 1
    assert AppliedTransaction.select().count() == 1


def test_unknown_kind_and_foreign_petition_numbers_are_rejected_with_reasons(
    server_app, ingest, raw
):
    raw.subscribe(station_topic("st-a", Channel.ACK))
    unknown = petition(kind="petition.teleported")
    foreign = petition()
    foreign.body["number"] = petition_number("st-b", 1)
    # "P-ST-A-0000001-0000001-…" starts like an st-a number but is station st-a-0000001's.
    lookalike = petition()
    lookalike.body["number"] = petition_number("st-a-0000001", 1)
    for tx in (unknown, foreign, lookalike):
        raw.publish(TX_TOPIC, encode(tx))
    wait_until(lambda: all(acks_for(raw, tx.tx_id) for tx in (unknown, foreign, lookalike)), "acks")
    assert acks_for(raw, unknown.tx_id) == ["rejected"]
    assert acks_for(raw, foreign.tx_id) == ["rejected"]
    assert acks_for(raw, lookalike.tx_id) == ["rejected"]
    reasons = rejection_reasons()
    assert any("unknown transaction kind" in r for r in reasons)
    assert any("not minted by this station" in r for r in reasons)
    assert Petition.select().count() == 0


def test_a_reused_petition_number_is_rejected_not_overwritten(server_app, ingest, raw):
    raw.subscribe(station_topic("st-a", Channel.ACK))
    first = petition(serial=5)
    second = petition(serial=5)  # same number, new tx id: e.g. a restored old SD card
    raw.publish(TX_TOPIC, encode(first))
    wait_until(lambda: acks_for(raw, first.tx_id), "the first ack")
    raw.publish(TX_TOPIC, encode(second))
    wait_until(lambda: acks_for(raw, second.tx_id), "the second ack")
    assert acks_for(raw, second.tx_id) == ["rejected"]
    assert Petition.get_by_id(first.body["number"]).tx_id == first.tx_id


def test_a_rejected_transaction_is_set_aside_on_the_station(server_app, ingest, station_factory):
    station = station_factory()
    with station.store.atomic():
        station.store.outbox.enqueue(
            "petition.filed",
            {
                "number": petition_number("st-b", 1),
                "service": "general_petition",
                "phone": "0812345678",
            },
        )
    station.sync.wake()
    wait_until(lambda: station.store.outbox.backlog().rejected == 1, "the rejection")
    assert station.store.outbox.backlog().pending == 0


def test_bad_lookup_requests_are_refused_without_crashing(server_app, ingest, raw, station_factory):
    raw.publish(station_topic("st-a", Channel.LOOKUP), msgspec.json.encode({"v": 1}))
    wait_until(lambda: RejectedMessage.select().count() == 1, "the refused lookup")
    assert "correlation" in rejection_reasons()[0]
    raw.close()
    station = station_factory()
    wait_until(lambda: station.sync.link.connected, "the station")
    assert station.sync.lookups.insured_summary("0000000000001").status == "not_found"


def test_a_batch_with_bad_members_applies_the_good_ones_and_refuses_the_rest(
    server_app, ingest, raw
):
    raw.subscribe(station_topic("st-a", Channel.ACK))
    good = [petition(serial=serial) for serial in (1, 2, 3)]
    foreign = petition("st-b", serial=4)  # names another station inside st-a's batch
    bad_kind = petition(serial=5, kind="no.such_kind")
    unreadable = b'{"v": 1, "tx_id": 12}'
    payload = encode_batch(
        "st-a",
        [
            encode(good[0]),
            encode(foreign),
            unreadable,
            encode(good[1]),
            encode(bad_kind),
            encode(good[2]),
        ],
    )
    raw.publish(TX_TOPIC, payload)

    for tx in good:
        wait_until(lambda tx=tx: acks_for(raw, tx.tx_id) == ["applied"], "the good ones applied")
    wait_until(lambda: acks_for(raw, foreign.tx_id) == ["rejected"], "the foreign one answered")
    wait_until(lambda: acks_for(raw, bad_kind.tx_id) == ["rejected"], "the bad kind answered")
    assert AppliedTransaction.select().count() == 3
    reasons = rejection_reasons()
    assert any("differs from the batch" in reason for reason in reasons)
    assert any("field 'tx_id'" in reason for reason in reasons)  # the unreadable one
    assert any("no.such_kind" in reason for reason in reasons)
    # Sent again whole: nothing applied twice, every good one acked as a duplicate.
    raw.publish(TX_TOPIC, payload)
    for tx in good:
        wait_until(lambda tx=tx: acks_for(raw, tx.tx_id) == ["applied", "duplicate"], "duplicates")
    assert AppliedTransaction.select().count() == 3
    assert_server_still_serves(raw)
