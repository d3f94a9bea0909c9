"""Attacker: whoever controls the broker host, or holds an MQTT identity allowed to publish
on the command topics (the dev brokers' all-access ``dcs-server`` account, the
``dcs-commands`` certificate taken from a web host), but not the server's signing key.

They try to: lock, reboot or wipe a station by publishing a ``Command`` of their own —
unsigned, signed with a key of their own, or a genuine signed command replayed on another
station's topic or with its name changed. Each is answered ``rejected`` and logged, and
nothing runs; a command the dashboard signs still works.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import msgspec
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from contract import Channel, Command, CommandResult, decode, encode, station_topic
from contract.command_seal import sign_command
from contract.transport import COMMANDS, INGEST, server_client_id
from device.station import Station, build_station
from provisioning.broker import SERVER_USER
from sync_server.dashboard import commands
from sync_server.dashboard.models import CommandRecord
from tests.conftest import SERVER_SIGNING_KEY, station_config
from tests.helpers import wait_until
from tests.raw_client import RawClient

ATTACKER_IDENTITIES = (SERVER_USER, server_client_id(COMMANDS))
#: Reads every station's ``cmd/result`` as the ingest workers do; a name of its own, as the
#: broker forces the client id to the certificate's name (two ``dcs-server`` would collide).
OBSERVER = server_client_id(INGEST, "2")


@pytest.fixture(params=ATTACKER_IDENTITIES)
def attacker(request: pytest.FixtureRequest, broker) -> Iterator[RawClient]:
    client = RawClient(broker, request.param, client_id=f"attacker-{uuid.uuid4().hex[:8]}")
    yield client
    client.close()


@pytest.fixture
def observer(broker) -> Iterator[RawClient]:
    client = RawClient(broker, OBSERVER)
    for station_id in ("st-a", "st-b"):
        client.subscribe(station_topic(station_id, Channel.COMMAND_RESULT))
    yield client
    client.close()


def command(name: str, station_id: str = "st-a", **args: object) -> Command:
    now = datetime.now(UTC)
    return Command(
        command_id=str(uuid.uuid4()),
        station_id=station_id,
        name=name,
        args=args,
        issued_at=now,
        expires_at=now + timedelta(minutes=5),
    )


def result_of(observer: RawClient, command_id: str, station_id: str) -> CommandResult:
    def find() -> CommandResult | None:
        for message in list(observer.messages):
            result = decode(message.payload, CommandResult)
            if (result.command_id, result.station_id) == (command_id, station_id):
                return result
        return None

    return wait_until(find, f"{station_id}'s answer to {command_id}")


def reboot_requested(station: Station) -> bool:
    return (Path(station.config.data_dir).parent / "reboot-requested").exists()


def started(station_factory, station_id: str = "st-a") -> Station:
    station = station_factory(station_id)
    wait_until(lambda: station.sync.link.connected, f"{station_id} to connect")
    return station


def test_an_unsigned_command_is_rejected_and_not_run(attacker, observer, station_factory, caplog):
    station = started(station_factory)
    forged = command("lock", reason="forged")
    with caplog.at_level(logging.WARNING, logger="device.sync.commands"):
        attacker.publish(station_topic("st-a", Channel.COMMAND), encode(forged))
        result = result_of(observer, forged.command_id, "st-a")
    assert (result.status, result.detail) == ("rejected", "command is not signed")
    assert not station.service_lock.locked
    assert f"refused command {forged.command_id} (lock): command is not signed" in caplog.text


def test_a_command_signed_with_another_key_is_rejected_and_not_run(
    attacker, observer, station_factory
):
    station = started(station_factory)
    forged = sign_command(command("reboot"), Ed25519PrivateKey.generate())
    attacker.publish(station_topic("st-a", Channel.COMMAND), encode(forged))
    result = result_of(observer, forged.command_id, "st-a")
    assert (result.status, result.detail) == (
        "rejected",
        "command is not signed by the server's key",
    )
    # A genuine ``ping`` afterwards is answered, and a reboot would be scheduled on the
    # same thread before it: none was.
    genuine = sign_command(command("ping"), SERVER_SIGNING_KEY)
    attacker.publish(station_topic("st-a", Channel.COMMAND), encode(genuine))
    assert result_of(observer, genuine.command_id, "st-a").status == "done"
    assert not reboot_requested(station)


def test_a_genuine_command_replayed_to_another_station_is_rejected(
    attacker, observer, station_factory
):
    station_a, station_b = started(station_factory, "st-a"), started(station_factory, "st-b")
    genuine = sign_command(command("lock", reason="maintenance"), SERVER_SIGNING_KEY)
    attacker.publish(station_topic("st-b", Channel.COMMAND), encode(genuine))
    result = result_of(observer, genuine.command_id, "st-b")
    assert (result.status, result.detail) == ("rejected", "command is addressed to another station")
    assert not station_b.service_lock.locked and not station_a.service_lock.locked

    # Readdressing it, or turning it into another command, breaks the signature.
    for changed in (
        msgspec.structs.replace(genuine, station_id="st-b"),
        msgspec.structs.replace(genuine, name="reboot", station_id="st-b"),
    ):
        attacker.publish(station_topic("st-b", Channel.COMMAND), encode(changed))
    renamed = msgspec.structs.replace(genuine, name="wipe_replica", args={})
    attacker.publish(station_topic("st-a", Channel.COMMAND), encode(renamed))
    assert result_of(observer, renamed.command_id, "st-a").detail == (
        "command is not signed by the server's key"
    )
    wait_until(
        lambda: (
            sum(
                decode(m.payload, CommandResult).station_id == "st-b"
                for m in list(observer.messages)
            )
            == 3
        ),
        "st-b's three answers",
    )
    answers = [decode(m.payload, CommandResult) for m in list(observer.messages)]
    assert all(a.status == "rejected" for a in answers)
    assert not station_b.service_lock.locked and not station_a.service_lock.locked
    assert not reboot_requested(station_b)


def test_a_station_without_the_server_key_refuses_every_command(observer, broker, tmp_path):
    keyless = msgspec.structs.replace(
        station_config(tmp_path, broker), server_public_key=None, replica=None
    )
    with build_station(keyless) as station:
        station.start()
        wait_until(lambda: station.sync.link.connected, "the keyless station")
        server = RawClient(broker, server_client_id(COMMANDS), client_id="commands-test")
        genuine = sign_command(command("lock"), SERVER_SIGNING_KEY)
        server.publish(station_topic("st-a", Channel.COMMAND), encode(genuine))
        result = result_of(observer, genuine.command_id, "st-a")
        server.close()
        assert (result.status, result.detail) == (
            "rejected",
            "this station has no server key to verify commands with",
        )
        assert not station.service_lock.locked


def test_a_command_signed_on_the_dashboard_path_still_runs(
    server_app, ingest, observer, station_factory, broker
):
    station = started(station_factory)
    with server_app.app_context():
        lock = commands.issue("st-a", "lock", actor="ops1", ttl=timedelta(minutes=5))
    wait_until(lambda: CommandRecord.get_by_id(lock.command_id).status == "done", "the lock")
    assert station.service_lock.locked

    # An unsigned unlock under the same command id is refused and leaves the kiosk locked.
    forged = msgspec.structs.replace(command("unlock"), command_id=lock.command_id)
    attacker = RawClient(broker, SERVER_USER, client_id="attacker")
    attacker.publish(station_topic("st-a", Channel.COMMAND), encode(forged))
    wait_until(
        lambda: any(
            decode(m.payload, CommandResult).status == "rejected" for m in list(observer.messages)
        ),
        "the forged unlock's answer",
    )
    attacker.close()
    assert station.service_lock.locked


def answers_to(observer: RawClient, command_id: str) -> int:
    return sum(decode(m.payload, CommandResult).command_id == command_id for m in observer.messages)


def test_a_genuine_command_replayed_to_its_own_station_runs_once(
    attacker, observer, station_factory
):
    station = started(station_factory)
    topic = station_topic("st-a", Channel.COMMAND)
    lock = encode(sign_command(command("lock", reason="captured"), SERVER_SIGNING_KEY))
    unlock = sign_command(command("unlock"), SERVER_SIGNING_KEY)
    attacker.publish(topic, lock)
    lock_id = decode(lock, Command).command_id
    assert result_of(observer, lock_id, "st-a").status == "done"
    attacker.publish(topic, encode(unlock))
    assert result_of(observer, unlock.command_id, "st-a").status == "done"

    # The captured lock, published again, before and after a restart: nothing runs and the
    # first answer stands (commands are handled in order, so a later ping's answer means
    # the replay was seen).
    for _ in range(2):
        attacker.publish(topic, lock)
        ping = sign_command(command("ping"), SERVER_SIGNING_KEY)
        attacker.publish(topic, encode(ping))
        result_of(observer, ping.command_id, "st-a")
        assert not station.service_lock.locked
        assert answers_to(observer, lock_id) == 1
        station.close()
        station = started(station_factory)
