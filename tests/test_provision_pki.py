"""Fleet PKI end to end: CA, signed bundle, enrolment, Mosquitto with client certificates.

A station enrolled from its bundle connects with its certificate and syncs through the real
ingest worker; a revoked station, an expired certificate, a certificate for another station
and an altered bundle are each refused; a valid certificate cannot publish under another
station's topic.
"""

from __future__ import annotations

import datetime as dt
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from contract import Channel, station_topic
from device.bundle import BundleError, verify_bundle
from device.config import load_config
from device.station import build_station
from devtools.broker_tls import TlsBroker
from provisioning.bundle import StationPlan, build, enroll
from provisioning.pki import CertificateAuthority, PkiError, write_key_and_cert
from sync_server import create_app
from sync_server.db import database
from sync_server.ingest.worker import IngestWorker
from sync_server.migrations import upgrade_url
from sync_server.petitions.models import Petition
from tests.helpers import wait_until

PASSPHRASE = b"correct horse battery staple"


@pytest.fixture
def ca(tmp_path) -> CertificateAuthority:
    return CertificateAuthority.init(tmp_path / "ca", PASSPHRASE)


@pytest.fixture
def tls_broker(ca) -> Iterator[TlsBroker]:
    broker = TlsBroker(ca).start()
    yield broker
    broker.cleanup()


@pytest.fixture
def server(tmp_path, tls_broker) -> Iterator[IngestWorker]:
    app = create_app(
        {
            "TESTING": True,
            "SECRET_KEY": "pki-test-secret-0123456789abcdefghij",
            "DATABASE_URL": upgrade_url(f"sqlite:///{tmp_path / 'server.sqlite3'}"),
            "MQTT_HOST": tls_broker.host,
            "MQTT_PORT": tls_broker.port,
            "MQTT_USERNAME": None,
            "MQTT_CA_FILE": str(tls_broker.chain),
            "MQTT_CERT_DIR": str(tls_broker.server_cert_dir),
        }
    )
    from sync_server import broker_settings

    worker = IngestWorker(database.obj, broker_settings(app.config), worker_id="1").start()
    yield worker
    worker.stop()
    database.close()


def enrolled(ca, tls_broker, tmp_path, station_id="st-a", days=365) -> Path:
    target = tmp_path / f"sd-{station_id}"
    plan = StationPlan(
        station_id=station_id,
        broker_host=tls_broker.host,
        broker_port=tls_broker.port,
        data_dir=str(target / "var/lib/dcs"),
        secrets_dir=str(target / "etc/dcs/bundle/secrets"),
    )
    bundle = build(ca, plan, tmp_path / "bundles" / station_id, days=days)
    installed, changed = enroll(bundle, target)
    assert changed
    return installed


def test_ca_keys_are_encrypted_and_the_passphrase_is_checked(ca, tmp_path):
    for name in ("root.key.pem", "intermediate.key.pem"):
        assert b"ENCRYPTED PRIVATE KEY" in (ca.directory / name).read_bytes()
    with pytest.raises(PkiError, match="wrong CA passphrase"):
        CertificateAuthority.open(ca.directory, b"not the passphrase")
    with pytest.raises(PkiError, match="already holds a CA"):
        CertificateAuthority.init(ca.directory, PASSPHRASE)


def test_enrolled_station_connects_with_its_certificate_and_syncs(ca, tls_broker, server, tmp_path):
    installed = enrolled(ca, tls_broker, tmp_path)
    manifest = verify_bundle(installed, ca.directory / "root.crt.pem")
    assert manifest["station_id"] == "st-a"
    again, changed = enroll(tmp_path / "bundles/st-a", tmp_path / "sd-st-a")
    assert again == installed and not changed  # idempotent
    with build_station(load_config(installed / "station.toml")) as station:
        station.start()
        number = station.file_petition("general_petition", "0812345678", {"subject": "tls"})
        wait_until(lambda: Petition.get_or_none(Petition.number == number), "the petition")
        wait_until(lambda: station.store.outbox.backlog().pending == 0, "the ack")


def test_a_tampered_bundle_is_refused(ca, tls_broker, tmp_path):
    installed = enrolled(ca, tls_broker, tmp_path)
    root = ca.directory / "root.crt.pem"
    config = installed / "station.toml"
    config.write_text(config.read_text().replace("port = ", "port = 1"))
    with pytest.raises(BundleError, match="do not match its signed manifest"):
        verify_bundle(installed, root)
    other = CertificateAuthority.init(tmp_path / "other-ca", PASSPHRASE)
    with pytest.raises(BundleError, match="not issued by this fleet's root"):
        verify_bundle(enrolled(ca, tls_broker, tmp_path, "st-b"), other.directory / "root.crt.pem")
    signature = installed / "manifest.sig"
    signature.write_bytes(signature.read_bytes()[:-2] + b"\x00\x00")
    with pytest.raises(BundleError):
        verify_bundle(installed, root)


def connects(tls_broker, cert: Path, key: Path) -> bool:
    """Whether the broker lets this certificate in (a QoS 1 publish to its own topic)."""
    name = cert.name.removesuffix(".crt.pem")
    published = subprocess.run(
        [
            "mosquitto_pub", "-h", tls_broker.host, "-p", str(tls_broker.port),
            "--cafile", str(tls_broker.chain), "--cert", str(cert), "--key", str(key),
            "-q", "1", "-t", station_topic(name, Channel.TELEMETRY), "-m", "probe",
        ],
        capture_output=True,
        timeout=20,
    )  # fmt: skip
    return published.returncode == 0


def test_revoked_and_expired_certificates_are_refused(ca, tls_broker, tmp_path):
    good_key, good = ca.issue("st-good", kind="client")
    paths = write_key_and_cert(tmp_path / "good", "st-good", good_key, good)
    assert connects(tls_broker, paths[1], paths[0])

    old_key, old = ca.issue(
        "st-old",
        kind="client",
        days=1,
        not_before=dt.datetime.now(dt.UTC) - dt.timedelta(days=3),
    )
    old_paths = write_key_and_cert(tmp_path / "old", "st-old", old_key, old)
    assert not connects(tls_broker, old_paths[1], old_paths[0])

    ca.revoke("st-good")
    tls_broker.reload_crl()
    wait_until(
        lambda: not connects(tls_broker, paths[1], paths[0]),
        "the revoked certificate to be refused",
    )


def test_a_certificate_cannot_publish_under_another_stations_topic(
    ca, tls_broker, server, tmp_path
):
    key, cert = ca.issue("st-b", kind="client")
    key_path, cert_path = write_key_and_cert(tmp_path / "b", "st-b", key, cert)
    # The second ingest worker's identity may read every station's tx (the first is busy).
    server_cert, server_key = tls_broker.client_cert("dcs-ingest-2")
    listener = subprocess.Popen(
        [
            "mosquitto_sub", "-h", tls_broker.host, "-p", str(tls_broker.port),
            "--cafile", str(tls_broker.chain), "--cert", str(server_cert),
            "--key", str(server_key), "-t", "dcs/v1/stations/+/tx", "-C", "1", "-W", "4", "-v",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )  # fmt: skip
    try:
        import time

        time.sleep(0.5)  # the subscription in place
        for station in ("st-a", "st-b"):
            subprocess.run(
                [
                    "mosquitto_pub", "-h", tls_broker.host, "-p", str(tls_broker.port),
                    "--cafile", str(tls_broker.chain), "--cert", str(cert_path),
                    "--key", str(key_path), "-q", "1",
                    "-t", station_topic(station, Channel.TX), "-m", f"from st-b as {station}",
                ],
                check=True,
                timeout=10,
            )  # fmt: skip
        out, _ = listener.communicate(timeout=10)
    finally:
        if listener.poll() is None:
            listener.kill()
    # Only its own topic got through; the line under st-a's topic never arrived.
    assert out.strip() == "dcs/v1/stations/st-b/tx from st-b as st-b"


def test_a_bundle_carrying_another_stations_certificate_is_refused(ca, tls_broker, tmp_path):
    from provisioning.bundle import sign

    installed = enrolled(ca, tls_broker, tmp_path, "st-a")
    key, cert = ca.issue("st-b", kind="client")
    write_key_and_cert(installed / "secrets", "station", key, cert)
    sign(installed, ca, "st-a")  # even signed by the fleet CA, the identity must match
    with pytest.raises(BundleError, match="certificate is for another station"):
        verify_bundle(installed, ca.directory / "root.crt.pem")
