"""Attacker: someone holding one station's certificate and key (a stolen kiosk, its SD card
copied), or a technician's laptop used to mint a certificate with a server's name.

They try to: take over another station's or a server worker's MQTT session by connecting
with its client id (kicking it off and wiping its persistent session), read another
station's topics, and get a "station" certificate named like a server process
(``dcs-server``, ``dcs-ingest-1``) so the broker hands it the server's access.
"""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from contract import Channel, fleet_filter, station_topic
from contract.topics import is_valid_station_id
from contract.transport import (
    QOS,
    SESSION_EXPIRY_S,
    BrokerSettings,
    connect_properties,
    new_client,
)
from devtools.broker_tls import TlsBroker
from provisioning.cli import main as provision
from provisioning.pki import CertificateAuthority, PkiError, write_key_and_cert
from tests.helpers import wait_until

PASSPHRASE = "correct horse battery staple"
SERVER_NAMES = ("dcs-server", "dcs-ingest-1", "dcs-kiosk-1", "dcs-replica-1", "dcs-broker")


@pytest.fixture(scope="module")
def ca(tmp_path_factory: pytest.TempPathFactory) -> CertificateAuthority:
    return CertificateAuthority.init(tmp_path_factory.mktemp("ca") / "ca", PASSPHRASE.encode())


@pytest.mark.parametrize("name", [*SERVER_NAMES, "dcs", "dcs-st-lobby"])
def test_a_server_identity_is_never_a_station_id(name):
    assert not is_valid_station_id(name)


@pytest.mark.parametrize("name", SERVER_NAMES)
def test_the_ca_refuses_a_station_certificate_with_a_server_name(ca, name):
    with pytest.raises(PkiError, match="refusing a station certificate"):
        ca.issue_station(name)
    assert all(entry["name"] != name for entry in ca._issued())


@pytest.mark.parametrize("name", ["dcs-server", "dcs-ingest-1", "DCS-SERVER", "x"])
def test_station_new_refuses_a_reserved_or_malformed_id(ca, tmp_path, name):
    args = ["station", "new", "--ca", str(ca.directory), "--station-id", name,
            "--broker-host", "broker.example", "--out", str(tmp_path / "bundle")]  # fmt: skip
    env = {"COLUMNS": "100", "DCS_CA_PASSPHRASE": PASSPHRASE}
    result = CliRunner().invoke(provision, args, env=env)
    assert result.exit_code == 2, result.output
    assert "--station-id" in result.output
    assert not (tmp_path / "bundle").exists()


def test_a_plain_station_id_is_still_issued(ca):
    _, cert = ca.issue_station("st-lobby-a")
    assert cert.subject.rfc4514_string().startswith("CN=st-lobby-a")


# -- session takeover with a stolen station certificate -----------------------------------


@pytest.fixture(scope="module")
def tls_broker(ca: CertificateAuthority) -> Iterator[TlsBroker]:
    broker = TlsBroker(ca).start()
    yield broker
    broker.cleanup()


@pytest.fixture(scope="module")
def station_certs(ca, tmp_path_factory) -> dict[str, tuple[Path, Path]]:
    """The stolen kiosk's (st-a) and the victim's (st-b) certificate and key."""
    directory = tmp_path_factory.mktemp("stations")
    certs = {}
    for station_id in ("st-a", "st-b"):
        key, cert = ca.issue_station(station_id)
        key_path, cert_path = write_key_and_cert(directory, station_id, key, cert)
        certs[station_id] = (cert_path, key_path)
    return certs


class Victim:
    """A client with a persistent session, counting its disconnects and what it receives."""

    def __init__(self, broker: TlsBroker, client_id: str, cert: tuple[Path, Path], topic: str):
        self.settings = BrokerSettings(
            host=broker.host,
            port=broker.port,
            ca_file=broker.chain,
            cert_file=cert[0],
            key_file=cert[1],
        )
        self.client_id, self.topic = client_id, topic
        self.disconnects = 0
        self.messages: list[bytes] = []
        self.connect()

    def _on_disconnect(self, *_: object) -> None:
        self.disconnects += 1

    def connect(self) -> None:
        """Connect (a fresh paho client: one reused after loop_stop leaks its socket pair)."""
        self.client = new_client(self.client_id, self.settings)
        self.client.on_connect = lambda client, *_: client.subscribe(self.topic, qos=QOS)
        self.client.on_disconnect = self._on_disconnect
        self.client.on_message = lambda _c, _u, message: self.messages.append(message.payload)
        self.client.connect(
            self.settings.host,
            self.settings.port,
            clean_start=False,
            properties=connect_properties(SESSION_EXPIRY_S),
        )
        self.client.loop_start()
        wait_until(self.client.is_connected, "the victim to connect")
        time.sleep(0.3)  # its subscription in place

    def disconnect(self) -> None:
        """A clean disconnect; the session stays on the broker."""
        self.client.disconnect()
        self.client.loop_stop()


def mosquitto(tool: str, broker: TlsBroker, cert: tuple[Path, Path], *args: str):  # type: ignore[no-untyped-def]
    """Run mosquitto_sub or mosquitto_pub with ``cert``, as an attacker would."""
    command = [tool, "-h", broker.host, "-p", str(broker.port), "-V", "mqttv5",
               "--cafile", str(broker.chain), "--cert", str(cert[0]), "--key", str(cert[1]),
               *args]  # fmt: skip
    return subprocess.run(command, capture_output=True, text=True, timeout=20, check=False)


def test_a_stolen_certificate_cannot_kick_another_station_or_read_its_topics(
    tls_broker, station_certs
):
    victim_ack = station_topic("st-b", Channel.ACK)
    victim = Victim(tls_broker, "st-b", station_certs["st-b"], victim_ack)
    try:
        snoop = mosquitto(
            "mosquitto_sub", tls_broker, station_certs["st-a"],
            "-i", "st-b", "-q", "1", "-t", victim_ack, "-W", "2", "-v",
        )  # fmt: skip
        mosquitto(
            "mosquitto_pub", tls_broker, tls_broker.client_cert("dcs-ingest-1"),
            "-i", "dcs-ingest-1", "-q", "1", "-t", victim_ack, "-m", "for st-b only",
        )  # fmt: skip
        wait_until(lambda: victim.messages, "the victim to get its ack")
        assert victim.disconnects == 0 and victim.client.is_connected()
        assert "for st-b only" not in snoop.stdout
    finally:
        victim.disconnect()


def test_a_stolen_certificate_cannot_wipe_another_stations_persistent_session(
    tls_broker, station_certs
):
    victim_ack = station_topic("st-b", Channel.ACK)
    victim = Victim(tls_broker, "st-b", station_certs["st-b"], victim_ack)
    victim.disconnect()  # offline: its session keeps what the server sends meanwhile
    mosquitto(
        "mosquitto_pub", tls_broker, tls_broker.client_cert("dcs-ingest-1"),
        "-i", "dcs-ingest-1", "-q", "1", "-t", victim_ack, "-m", "queued while offline",
    )  # fmt: skip
    # A clean start under the victim's client id would discard that session.
    mosquitto("mosquitto_pub", tls_broker, station_certs["st-a"],
              "-i", "st-b", "-t", station_topic("st-a", Channel.TELEMETRY), "-m", "x")  # fmt: skip
    victim.connect()
    try:
        wait_until(lambda: b"queued while offline" in victim.messages, "the queued ack")
    finally:
        victim.disconnect()


def test_a_stolen_certificate_cannot_take_over_a_server_workers_session(tls_broker, station_certs):
    worker_topic = "$share/ingest/" + fleet_filter(Channel.TX)
    worker = Victim(tls_broker, "dcs-ingest-1", tls_broker.client_cert("dcs-ingest-1"),
                    worker_topic)  # fmt: skip
    try:
        mosquitto(
            "mosquitto_sub", tls_broker, station_certs["st-a"],
            "-i", "dcs-ingest-1", "-t", worker_topic, "-W", "2",
        )  # fmt: skip
        mosquitto("mosquitto_pub", tls_broker, station_certs["st-a"], "-q", "1",
                  "-t", station_topic("st-a", Channel.TX), "-m", "a transaction")  # fmt: skip
        wait_until(lambda: b"a transaction" in worker.messages, "the worker to get it")
        assert worker.disconnects == 0 and worker.client.is_connected()
    finally:
        worker.disconnect()


def test_a_server_identity_has_only_its_roles_topics(tls_broker):
    """The kiosk-services worker's certificate cannot read transactions or send commands."""
    kiosk = tls_broker.client_cert("dcs-kiosk-1")
    ingest = Victim(tls_broker, "dcs-ingest-2", tls_broker.client_cert("dcs-ingest-2"),
                    fleet_filter(Channel.TX))  # fmt: skip
    try:
        mosquitto("mosquitto_pub", tls_broker, kiosk, "-q", "1",
                  "-t", station_topic("st-b", Channel.TX), "-m", "forged")  # fmt: skip
        mosquitto("mosquitto_pub", tls_broker, kiosk, "-q", "1",
                  "-t", station_topic("st-b", Channel.COMMAND), "-m", "forged")  # fmt: skip
        read = mosquitto("mosquitto_sub", tls_broker, kiosk, "-t", fleet_filter(Channel.TX),
                         "-W", "2", "-v")  # fmt: skip
        time.sleep(0.5)
        assert ingest.messages == []
        assert "forged" not in read.stdout
    finally:
        ingest.disconnect()
