"""The wire contract: topics, schemas, versions, size limit, errors that name the field."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from contract import (
    MAX_PAYLOAD_BYTES,
    Ack,
    AckItem,
    Channel,
    ContractError,
    InsuredSummary,
    LookupResponse,
    MalformedMessageError,
    PayloadTooLargeError,
    SchemaError,
    TopicError,
    Transaction,
    UnsupportedVersionError,
    decode,
    decode_body,
    encode,
    parse_station_topic,
    shared_filter,
    station_topic,
)
from device.store.ids import new_tx_id

NOW = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)


def petition_tx(**overrides: object) -> Transaction:
    fields = {
        "tx_id": new_tx_id(),
        "station_id": "st-a",
        "seq": 1,
        "kind": "petition.filed",
        "station_time": NOW,
        "body": {
            "number": "P-ST-A-0000001-Q",
            "service": "general_petition",
            "phone": "0812345678",
        },
    }
    fields.update(overrides)
    return Transaction(**fields)


def test_topics_are_versioned_and_per_station():
    assert station_topic("st-a", Channel.TX) == "dcs/v1/stations/st-a/tx"
    assert station_topic("st-a", Channel.LOOKUP_REPLY) == "dcs/v1/stations/st-a/lookup/reply"
    assert parse_station_topic("dcs/v1/stations/st-a/cmd/result") == (
        "st-a",
        Channel.COMMAND_RESULT,
    )
    assert shared_filter("ingest", Channel.TX) == "$share/ingest/dcs/v1/stations/+/tx"


@pytest.mark.parametrize(
    "topic",
    [
        "dcs/v2/stations/st-a/tx",
        "dcs/v1/stations/st-a/nope",
        "dcs/v1/stations/ST-A/tx",
        "dcs/v1/stations/+/tx",
        "dcs/v1/stations/a/tx",
    ],
)
def test_topics_outside_the_tree_are_refused(topic):
    with pytest.raises(TopicError):
        parse_station_topic(topic)


@pytest.mark.parametrize("station_id", ["st-#", "st/a", "a", "-st", "x" * 33])
def test_station_ids_that_would_break_topics_are_refused(station_id):
    with pytest.raises(TopicError):
        station_topic(station_id, Channel.TX)


def test_round_trip_keeps_every_field():
    tx = petition_tx()
    assert decode(encode(tx), Transaction) == tx
    ack = Ack(
        station_id="st-a", server_time=NOW, results=[AckItem(tx_id=tx.tx_id, outcome="applied")]
    )
    assert decode(encode(ack), Ack) == ack


def test_schema_version_is_on_the_wire():
    assert encode(petition_tx()).startswith(b'{"v":1,')


def test_money_travels_as_exact_decimal_strings():
    summary = InsuredSummary(
        citizen_id="0123456789016",
        full_name_th="นายสมชาย ใจดี",
        status="section33",
        contributions_baht=Decimal("72900.50"),
        contributions_count=162,
        benefits_baht=Decimal("0"),
        benefits_count=0,
        old_age_savings_baht=Decimal("43740.30"),
    )
    data = encode(LookupResponse(status="ok", record=summary))
    assert b'"72900.50"' in data
    assert decode(data, LookupResponse).record.contributions_baht == Decimal("72900.50")


def test_malformed_json_is_its_own_error():
    with pytest.raises(MalformedMessageError):
        decode(b'{"v": 1, "tx_id": ', Transaction)
    with pytest.raises(MalformedMessageError):
        decode(b"[1, 2]", Transaction)


def test_unknown_schema_version_is_refused_before_the_schema():
    with pytest.raises(UnsupportedVersionError) as info:
        decode(b'{"v": 2, "anything": true}', Transaction)
    assert info.value.version == 2
    assert "supported: 1" in str(info.value)


def test_missing_version_names_the_field():
    with pytest.raises(SchemaError) as info:
        decode(b'{"tx_id": "x"}', Transaction)
    assert info.value.field == "v"


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"tx_id": "not-a-uuid"}, "tx_id"),
        ({"station_id": "ST A"}, "station_id"),
        ({"seq": 0}, "seq"),
        ({"station_time": "2026-11-24T09:00:00"}, "station_time"),  # no offset
        ({"kind": "Petition"}, "kind"),
    ],
)
def test_schema_errors_name_the_field(change, field):
    raw = msgspec.json.decode(encode(petition_tx()))
    raw.update(change)
    with pytest.raises(SchemaError) as info:
        decode(msgspec.json.encode(raw), Transaction)
    assert info.value.field == field
    assert field in str(info.value)


def test_body_is_validated_per_kind_and_errors_name_the_body_field():
    with pytest.raises(SchemaError) as info:
        decode_body(
            petition_tx(body={"number": "P-ST-A-0000001-Q", "service": "x1", "phone": "12"})
        )
    assert info.value.field == "body.phone"
    with pytest.raises(SchemaError) as info:
        decode_body(petition_tx(kind="petition.unknown"))
    assert info.value.field == "kind"


def test_oversized_payload_is_refused_both_ways():
    big = petition_tx(body={"number": "P-ST-A-0000001-Q", "padding": "x" * MAX_PAYLOAD_BYTES})
    with pytest.raises(PayloadTooLargeError):
        encode(big)
    with pytest.raises(PayloadTooLargeError) as info:
        decode(b" " * (MAX_PAYLOAD_BYTES + 1), Transaction)
    assert info.value.limit == MAX_PAYLOAD_BYTES


def test_every_contract_error_is_a_value_error():
    assert issubclass(ContractError, ValueError)


def test_unknown_fields_are_ignored_within_a_version():
    raw = msgspec.json.decode(encode(petition_tx()))
    raw["added_in_a_later_minor"] = 1
    assert decode(msgspec.json.encode(raw), Transaction).station_id == "st-a"


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=512))
def test_random_bytes_never_escape_as_anything_but_contract_errors(data):
    try:
        message = decode(data, Transaction)
    except ContractError:
        return
    assert isinstance(message, Transaction)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=20,
)


@settings(max_examples=300, deadline=None)
@given(
    st.dictionaries(
        st.sampled_from(["v", "tx_id", "station_id", "seq", "kind", "station_time", "body"]),
        json_values,
    )
)
def test_random_json_objects_never_escape_as_anything_but_contract_errors(obj):
    try:
        message = decode(msgspec.json.encode(obj), Transaction)
    except ContractError:
        return
    assert isinstance(message, Transaction)
