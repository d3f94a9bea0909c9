"""Replicas end to end: real Mosquitto, the replica publisher, real stations.

A station receives exactly the residents of its building, sealed for it and stored
encrypted; record changes reach it as deltas; a wipe command empties it (also when sent
while it is offline); forged, tampered, replayed and out-of-scope parts are rejected.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

import msgspec
import peewee
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from contract import (
    Channel,
    CommandResult,
    ReplicaContent,
    ReplicaEnvelope,
    decode,
    encode,
    station_topic,
)
from contract.replica_seal import raw_public, seal_part
from device.config import ReplicaConfig
from device.station import Station, build_station
from devtools.broker import LocalBroker
from devtools.seed import seed_records
from provisioning.broker import SERVER_USER
from sync_server import broker_settings, create_app
from sync_server.db import database
from sync_server.records.models import InsuredPerson
from sync_server.records.read import building_residents, insured_record, insured_records
from sync_server.records.updates import move_resident, record_benefit_payment
from sync_server.replicas import (
    enrol_station,
    mqtt_publisher,
    request_replica_refresh,
    wipe_replica,
)
from sync_server.replicas.keys import public_key_text
from sync_server.replicas.models import StationReplica
from sync_server.replicas.service import ReplicaService
from tests.conftest import SERVER_SIGNING_KEY, server_config, station_config
from tests.helpers import wait_until
from tests.raw_client import RawClient

AS_OF = date(2026, 11, 24)


@pytest.fixture
def signing_key() -> Ed25519PrivateKey:
    return Ed25519PrivateKey.generate()


@pytest.fixture
def app(database_url: str, broker: LocalBroker):
    app = create_app(server_config(database_url, broker))
    # ~75 residents a building: a full replica is more than one part.
    seed_records(300, as_of=AS_OF)
    yield app
    database.close()


@pytest.fixture
def publisher(app, signing_key) -> Iterator[ReplicaService]:
    service = ReplicaService(
        database.obj, broker_settings(app.config), signing_key, poll_s=0.2
    ).start()
    wait_until(service.connected.is_set, "the replica publisher to connect")
    yield service
    service.stop()


@pytest.fixture
def replica_station(
    tmp_path: Path, broker: LocalBroker, signing_key: Ed25519PrivateKey
) -> Iterator[Callable[..., Station]]:
    """Builds (and by default enrols and starts) a station with a ``[replica]`` section."""
    stations: list[Station] = []

    def make(
        station_id: str = "st-a",
        building: str = "building-1",
        *,
        enrol: bool = True,
        enrol_as: str | None = None,
        start: bool = True,
    ) -> Station:
        config = msgspec.structs.replace(
            station_config(tmp_path, broker, station_id),
            replica=ReplicaConfig(
                building=building, server_public_key=public_key_text(signing_key)
            ),
        )
        station = build_station(config)
        stations.append(station)
        if enrol:
            enrol_station(station_id, enrol_as or building, station_public_key(station))
        if start:
            station.start()
        return station

    yield make
    for station in stations:
        station.close()


def station_public_key(station: Station) -> bytes:
    return raw_public(station.replica._station_key.public_key())


def wait_for_full(station: Station, building: str = "building-1") -> list[str]:
    expected = building_residents(building)
    wait_until(
        lambda: (
            station.replica.state.cursor is not None
            and station.replica.state.records == len(expected)
        ),
        "the full replica to arrive",
    )
    return expected


def store_bytes(station: Station) -> bytes:
    path = station.store.path
    wal = path.with_name(path.name + "-wal")
    return path.read_bytes() + (wal.read_bytes() if wal.exists() else b"")


def test_full_replica_arrives_scoped_and_encrypted_at_rest(publisher, replica_station):
    station = replica_station()
    ids = wait_for_full(station)
    assert 40 < len(ids) < len(list(InsuredPerson.select()))  # one building of four

    # Exactly the master's records of this building, details and as-of date included.
    master = insured_records(ids)
    for cid in ids:
        record = station.replica.insured_record(cid)
        assert record == master[cid]
        assert record.as_of == AS_OF
        assert record.contributions and record.hospital is not None
    assert sorted(r.citizen_id for r in station.replica._store.all_records()) == sorted(ids)
    state = station.replica.state
    assert state.building == "building-1" and state.as_of is not None and not state.wiped

    # Nobody from another building is there.
    others = InsuredPerson.select().where(InsuredPerson.building != "building-1")
    assert others.count() > 100
    assert all(station.replica.insured_record(p.citizen_id) is None for p in others)

    # Encrypted at rest: no citizen id, name or hospital of a resident in the file or its WAL.
    raw = store_bytes(station)
    for cid in ids:
        person = master[cid].summary
        assert cid.encode() not in raw
        assert person.full_name_th.encode() not in raw
        assert person.full_name_en.encode() not in raw
    assert "โรงพยาบาล".encode() not in raw


def test_record_changes_arrive_as_deltas(publisher, replica_station):
    station = replica_station()
    ids = wait_for_full(station)
    cursor = station.replica.state.cursor
    fulls = publisher.full_sent

    someone = ids[0]
    before = station.replica.insured_record(someone).summary
    record_benefit_payment(
        someone,
        paid_on=date(2026, 11, 20),
        benefit_type="sickness",
        method="promptpay",
        amount=Decimal("1250.50"),
        as_of=date(2026, 11, 25),
    )
    wait_until(
        lambda: (
            station.replica.insured_record(someone).summary.benefits_count
            == before.benefits_count + 1
        ),
        "the delta with the new claim",
    )
    after = station.replica.insured_record(someone)
    assert after.summary.benefits_baht == before.benefits_baht + Decimal("1250.50")
    assert after.benefits[0].paid_on == date(2026, 11, 20)
    assert after.as_of == date(2026, 11, 25)
    assert station.replica.state.cursor > cursor

    # One moves out, one moves in: dropped and added, nobody else touched.
    leaving = ids[1]
    arriving = building_residents("building-2")[0]
    move_resident(leaving, "building-2")
    move_resident(arriving, "building-1")
    wait_until(
        lambda: (
            station.replica.insured_record(arriving) is not None
            and station.replica.insured_record(leaving) is None
        ),
        "the moves to arrive",
    )
    assert station.replica.state.records == len(ids)
    assert station.replica.insured_record(arriving) == insured_record(arriving)
    assert publisher.full_sent == fulls  # only deltas after the first full
    assert publisher.deltas_sent >= 2


def test_reconnecting_station_gets_what_changed_while_it_was_away(
    publisher, replica_station, tmp_path, broker
):
    station = replica_station()
    ids = wait_for_full(station)
    station.close()

    record_benefit_payment(
        ids[2],
        paid_on=date(2026, 11, 21),
        benefit_type="sickness",
        method="bank_transfer",
        amount=Decimal("15000.00"),
    )
    fulls = publisher.full_sent
    again = replica_station(enrol=False)  # same config and store: its cursor is kept
    wait_until(
        lambda: (
            again.replica.insured_record(ids[2]).summary.benefits_count
            == insured_record(ids[2]).summary.benefits_count
        ),
        "the change made while offline",
    )
    assert publisher.full_sent == fulls
    assert again.replica.state.records == len(ids)


def command_results(raw: RawClient, station_id: str, command_id: str) -> list[CommandResult]:
    results = [decode(m.payload, CommandResult) for m in list(raw.messages)]
    return [r for r in results if r.command_id == command_id and r.station_id == station_id]


def test_wipe_then_refresh_through_commands(app, publisher, replica_station, broker):
    station = replica_station()
    ids = wait_for_full(station)
    watcher = RawClient(broker, SERVER_USER, client_id="watch-results")
    watcher.subscribe(station_topic("st-a", Channel.COMMAND_RESULT))
    send = mqtt_publisher(broker_settings(app.config))

    command = wipe_replica("st-a", publish=send, signing_key=SERVER_SIGNING_KEY)
    results = wait_until(
        lambda: command_results(watcher, "st-a", command.command_id), "the wipe's result"
    )
    assert results[0].status == "done"
    assert station.replica.state.records == 0 and station.replica.state.wiped
    assert all(station.replica.insured_record(cid) is None for cid in ids)
    assert StationReplica.get_by_id("st-a").suspended

    # A restart does not bring it back: the station asks for nothing, the server would refuse.
    requests_before = StationReplica.get_by_id("st-a").last_request_at
    station.close()
    again = replica_station(enrol=False)
    wait_until(lambda: again.sync.link.connected, "the station to reconnect")
    publisher.poke()
    assert again.replica.state.records == 0
    assert StationReplica.get_by_id("st-a").last_request_at == requests_before

    command = request_replica_refresh("st-a", publish=send, signing_key=SERVER_SIGNING_KEY)
    wait_for_full(again)
    results = command_results(watcher, "st-a", command.command_id)
    assert results and results[0].status == "done"
    assert not again.replica.state.wiped
    watcher.close()


def test_wipe_sent_while_offline_applies_on_reconnect(app, publisher, replica_station, broker):
    station = replica_station()
    wait_for_full(station)
    station.close()
    wipe_replica(
        "st-a",
        publish=mqtt_publisher(broker_settings(app.config)),
        signing_key=SERVER_SIGNING_KEY,
    )

    again = replica_station(enrol=False)
    wait_until(lambda: again.replica.state.wiped, "the queued wipe to arrive")
    assert again.replica.state.records == 0


def test_a_station_moved_to_another_building_drops_its_old_residents(publisher, replica_station):
    station = replica_station()
    ids = wait_for_full(station)
    station.close()

    moved = replica_station(building="building-2", start=False)  # re-enrolled, not started
    assert moved.replica.state.records == 0
    assert all(moved.replica.insured_record(cid) is None for cid in ids)
    moved.start()
    wait_for_full(moved, "building-2")
    assert {r.building for r in moved.replica._store.all_records()} == {"building-2"}


def test_station_outside_its_enrolment_is_refused(publisher, replica_station):
    station = replica_station("st-b", "building-2", enrol_as="building-3")
    wait_until(lambda: station.replica.state.last_refusal, "the refusal")
    assert "building" in station.replica.state.last_refusal
    assert station.replica.state.records == 0
    assert StationReplica.get_by_id("st-b").sent_cursor is None


def content_for(station_id: str, records: list, request_id: str | None) -> bytes:
    return msgspec.json.encode(
        ReplicaContent(
            station_id=station_id,
            building="building-1",
            update_id=uuid.uuid4().hex,
            request_id=request_id,
            mode="full",
            cursor=10**9,
            as_of=datetime.now(UTC),
            part=1,
            parts=1,
            records=records,
        )
    )


def test_forged_tampered_replayed_and_foreign_parts_are_rejected(
    app, publisher, replica_station, broker, signing_key, caplog
):
    caplog.set_level(logging.WARNING, logger="device.replica")
    spy = RawClient(broker, SERVER_USER, client_id="spy")
    spy.subscribe(station_topic("st-a", Channel.REPLICA))
    station = replica_station()
    ids = wait_for_full(station)
    captured = [m.payload for m in list(spy.messages)]
    assert captured
    topic = station_topic("st-a", Channel.REPLICA)
    key = station_public_key(station)
    real = insured_record(ids[0])
    impostor = msgspec.structs.replace(
        real, summary=msgspec.structs.replace(real.summary, full_name_en="Mr. Forged Name")
    )

    def rejected_after(payload: bytes, reason: str) -> None:
        count = station.replica.rejected
        spy.publish(topic, payload)
        wait_until(lambda: station.replica.rejected > count, f"rejection: {reason}")
        assert reason in caplog.text

    # 1. Signed by someone else's key (the forger can encrypt: the public key is public).
    forged = seal_part(
        content_for("st-a", [impostor], None),
        station_id="st-a",
        station_public=key,
        signing_key=Ed25519PrivateKey.generate(),
    )
    rejected_after(encode(forged), "not signed by the server's key")

    # 2. A real part with one ciphertext byte changed.
    original = decode(captured[0], ReplicaEnvelope)
    tampered = bytearray(original.ciphertext)
    tampered[len(tampered) // 2] ^= 0x01
    changed = msgspec.structs.replace(original, ciphertext=bytes(tampered))
    rejected_after(encode(changed), "not signed by the server's key")

    # 3. A real part replayed: a full replica the station did not ask for.
    rejected_after(captured[0], "did not ask for")

    # 4. Signed by the server but sealed for another station's key.
    other = seal_part(
        content_for("st-a", [real], None),
        station_id="st-a",
        station_public=raw_public(X25519PrivateKey.generate().public_key()),
        signing_key=signing_key,
    )
    rejected_after(encode(other), "another station key")

    # 5. Signed and sealed right, but carrying a resident of another building.
    outsider = insured_record(building_residents("building-2")[0])
    wrong_scope = seal_part(
        msgspec.json.encode(
            msgspec.structs.replace(
                msgspec.json.decode(content_for("st-a", [], None), type=ReplicaContent),
                records=[msgspec.structs.replace(outsider, building="building-2")],
            )
        ),
        station_id="st-a",
        station_public=key,
        signing_key=signing_key,
    )
    rejected_after(encode(wrong_scope), "outside this station's building")

    # 6. Not even the contract.
    rejected_after(b'{"v": 1, "type": "replica.part"}', "malformed")

    # Nothing of it was stored; the replica is what the server sent.
    assert station.replica.state.records == len(ids)
    assert station.replica.insured_record(ids[0]) == real
    assert station.replica.insured_record(outsider.citizen_id) is None
    assert b"Forged" not in store_bytes(station)
    spy.close()


def test_an_update_the_disk_refused_once_is_asked_for_again(publisher, replica_station):
    """The replica's write failed (disk full, locked): the station asks again, not waits."""
    station = replica_station(start=False)
    store = station.replica._store
    real_apply = store.apply
    refusals: list[int] = []

    def apply_failing_once(parts, *, full):  # type: ignore[no-untyped-def]
        if not refusals:
            refusals.append(len(parts))
            raise peewee.OperationalError("disk I/O error")
        return real_apply(parts, full=full)

    store.apply = apply_failing_once
    station.start()
    ids = wait_for_full(station)
    assert refusals, "the injected failure did not happen"
    assert station.replica.store_failures == 0
    assert station.replica.state.records == len(ids)
