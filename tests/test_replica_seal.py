"""Sealed replica parts (contract/replica_seal.py) and the record schemas, without a broker."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

import msgspec
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from contract import (
    MAX_PAYLOAD_BYTES,
    BenefitClaim,
    ContributionYear,
    HospitalEntitlement,
    InsuredRecord,
    InsuredSummary,
    OldAgeSavingsYear,
    ReplicaContent,
    ReplicaEnvelope,
    ReplicaMessage,
    ReplicaRefusal,
    SchemaError,
    decode,
    encode,
)
from contract.replica_seal import ReplicaSealError, open_part, raw_public, seal_part
from devtools.synthetic import residents
from devtools.synthetic_history import history
from sync_server.replicas.build import Update, seal_update

AS_OF = date(2026, 11, 24)


def record_of(resident, building: str = "building-1") -> InsuredRecord:
    """A contract record built straight from the generator (no database)."""
    h = history(resident, AS_OF)
    return InsuredRecord(
        summary=InsuredSummary(
            citizen_id=resident.citizen_id,
            full_name_th=resident.full_name_th,
            full_name_en=resident.full_name_en,
            status=resident.status,
            hospital=resident.hospital,
            contributions_baht=resident.contributions_baht,
            contributions_count=resident.contributions_count,
            benefits_baht=resident.benefits_baht,
            benefits_count=resident.benefits_count,
            old_age_savings_baht=resident.old_age_savings_baht,
        ),
        as_of=AS_OF,
        building=building,
        hospital=HospitalEntitlement(**h.entitlement._asdict()),
        contributions=[ContributionYear(**c._asdict()) for c in h.contributions],
        benefits=[BenefitClaim(**b._asdict()) for b in h.benefits],
        old_age_savings=[OldAgeSavingsYear(**y._asdict()) for y in h.old_age_savings],
    )


@pytest.fixture(scope="module")
def keys():
    return Ed25519PrivateKey.generate(), X25519PrivateKey.generate()


def sealed(keys, content: bytes = b'{"hello": "world"}', station_id: str = "st-a"):
    server, station = keys
    return seal_part(
        content,
        station_id=station_id,
        station_public=raw_public(station.public_key()),
        signing_key=server,
    )


def opened(keys, envelope: ReplicaEnvelope, station_id: str = "st-a") -> bytes:
    server, station = keys
    return open_part(
        envelope, station_id=station_id, station_key=station, server_public=server.public_key()
    )


def test_a_sealed_part_opens_only_for_its_station(keys):
    envelope = sealed(keys)
    assert opened(keys, envelope) == b'{"hello": "world"}'
    assert decode(encode(envelope), ReplicaMessage) == envelope
    assert b"hello" not in encode(envelope)
    with pytest.raises(ReplicaSealError, match="another station"):
        opened(keys, envelope, station_id="st-b")
    other_station = (keys[0], X25519PrivateKey.generate())
    with pytest.raises(ReplicaSealError, match="another station key"):
        opened(other_station, envelope)
    other_server = (Ed25519PrivateKey.generate(), keys[1])
    with pytest.raises(ReplicaSealError, match="not signed"):
        opened(other_server, envelope)


@pytest.mark.parametrize("field", ["key_id", "ephemeral_key", "nonce", "ciphertext", "signature"])
def test_changing_any_field_is_detected(keys, field):
    envelope = sealed(keys)
    value = getattr(envelope, field)
    if isinstance(value, str):
        changed = ("0" if value[0] != "0" else "1") + value[1:]
    else:
        changed = bytes([value[0] ^ 0x01]) + value[1:]
    with pytest.raises(ReplicaSealError):
        opened(keys, msgspec.structs.replace(envelope, **{field: changed}))


def test_a_decompression_bomb_is_refused(keys):
    server, station = keys
    bomb = seal_part(
        b"0" * (9 * 1024 * 1024),
        station_id="st-a",
        station_public=raw_public(station.public_key()),
        signing_key=server,
    )
    assert len(encode(bomb)) < MAX_PAYLOAD_BYTES  # 9 MiB of zeros compress to a few KiB
    with pytest.raises(ReplicaSealError, match="too large"):
        opened(keys, bomb)


def test_a_large_update_is_split_into_parts_that_fit_the_contract(keys):
    server, station = keys
    records = [record_of(r) for r in residents(700, seed=7)]
    update = Update("full", "building-1", None, 42, records, [])
    parts = seal_update(
        update,
        station_id="st-a",
        station_public=raw_public(station.public_key()),
        signing_key=server,
        as_of=datetime(2026, 11, 24, tzinfo=UTC),
        request_id="a" * 32,
    )
    assert len(parts) > 3
    assert all(len(encode(p)) <= MAX_PAYLOAD_BYTES for p in parts)
    contents = [msgspec.json.decode(opened(keys, p), type=ReplicaContent) for p in parts]
    assert [c.part for c in contents] == list(range(1, len(parts) + 1))
    assert {c.parts for c in contents} == {len(parts)}
    assert len({c.update_id for c in contents}) == 1
    assert [r for c in contents for r in c.records] == records


def test_an_empty_delta_is_one_part(keys):
    server, station = keys
    parts = seal_update(
        Update("delta", "building-1", 5, 9, [], []),
        station_id="st-a",
        station_public=raw_public(station.public_key()),
        signing_key=server,
        as_of=datetime(2026, 11, 24, tzinfo=UTC),
    )
    content = msgspec.json.decode(opened(keys, parts[0]), type=ReplicaContent)
    assert (len(parts), content.mode, content.base_cursor, content.cursor) == (1, "delta", 5, 9)
    assert content.records == [] and content.removed == []


def test_record_schema_refuses_negative_money_and_bad_codes():
    record = record_of(next(residents(1)))
    data = msgspec.json.decode(encode(record))
    assert data["contributions"][0]["amount"].count(".") == 1  # money is a decimal string
    assert msgspec.json.decode(encode(record), type=InsuredRecord) == record
    data["benefits"] = [
        {"paid_on": "2026-01-02", "benefit_type": "sickness", "method": "cash", "amount": "-1"}
    ]
    with pytest.raises(msgspec.ValidationError, match="amount"):
        msgspec.json.decode(msgspec.json.encode(data), type=InsuredRecord)
    data["benefits"][0].update(amount="1.00", benefit_type="Sickness!")
    with pytest.raises(msgspec.ValidationError, match="benefit_type"):
        msgspec.json.decode(msgspec.json.encode(data), type=InsuredRecord)
    assert OldAgeSavingsYear(
        year=2026, employee=Decimal(1), employer=Decimal(2), government=Decimal(3)
    ).total == Decimal(6)


def test_replica_messages_are_told_apart_by_type():
    refusal = ReplicaRefusal(station_id="st-a", reason="no", server_time=datetime.now(UTC))
    assert decode(encode(refusal), ReplicaMessage) == refusal
    with pytest.raises(SchemaError):
        decode(b'{"v": 1, "type": "replica.other", "station_id": "st-a"}', ReplicaMessage)
