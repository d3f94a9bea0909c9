"""The threat: a fleet outage on a timer, and expired certificates nobody noticed.

Mosquitto checks every client against the CRL, and an OpenSSL verifier treats a CRL past its
nextUpdate as an error: 30 days after the CRL was last signed, every station and worker is
refused, with nothing in the logs until it happens. A station's or a worker's certificate
expires just as silently. Here, under a shifted clock (no waiting): a lapsed CRL fails
verification while a current one passes; ``dcs-provision ca crl refresh`` moves nextUpdate
forward, never un-revokes a serial even when signed from a stale CA copy, and the broker
still accepts clients after the reload; the alarm rules warn 29 and 6 days before an expiry
and go critical on the last day, for station certificates, the server's own and the CRL.
"""

from __future__ import annotations

import datetime as dt
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner
from cryptography import x509

from devtools.broker import hand_to_mosquitto_user
from devtools.broker_tls import TlsBroker
from provisioning.broker_tls import refresh_crl
from provisioning.cli import main
from provisioning.pki import CertificateAuthority, write_key_and_cert
from sync_server import create_app
from sync_server.dashboard import alarms, expiry
from sync_server.dashboard.models import Alarm
from sync_server.dashboard.worker import AlarmWorker
from sync_server.db import database
from sync_server.fleet.models import Enrollment
from tests.helpers import wait_until
from tests.test_provision_pki import connects

PASSPHRASE = "lifecycle-test-passphrase"


@pytest.fixture
def ca(tmp_path: Path) -> CertificateAuthority:
    return CertificateAuthority.init(tmp_path / "ca", PASSPHRASE.encode())


@pytest.fixture
def passphrase_file(tmp_path: Path) -> Path:
    path = tmp_path / "passphrase"
    path.write_text(PASSPHRASE)
    return path


def next_update(crl_path: Path) -> dt.datetime:
    value = x509.load_pem_x509_crl(crl_path.read_bytes()).next_update_utc
    assert value is not None
    return value


def openssl_verifies(ca: CertificateAuthority, crl: Path, cert: Path, at: dt.datetime) -> bool:
    """``openssl verify -crl_check`` of ``cert`` against the fleet chain, at time ``at``."""
    done = subprocess.run(
        ["openssl", "verify", "-crl_check", "-attime", str(int(at.timestamp())),
         "-CAfile", str(ca.directory / "chain.pem"), "-CRLfile", str(crl), str(cert)],
        capture_output=True, text=True, timeout=20,
    )  # fmt: skip
    return done.returncode == 0


def refresh(ca: CertificateAuthority, passphrase_file: Path, broker_dir: Path, *extra: str):
    return CliRunner().invoke(
        main,
        ["ca", "crl", "refresh", "--ca", str(ca.directory), "--passphrase-file",
         str(passphrase_file), "--broker-dir", str(broker_dir), *extra],
    )  # fmt: skip


def test_a_lapsed_crl_refuses_everyone_until_it_is_refreshed(ca, passphrase_file, tmp_path):
    key, cert = ca.issue_station("st-a")
    _, cert_path = write_key_and_cert(tmp_path / "st-a", "st-a", key, cert)
    broker_dir = tmp_path / "broker"
    broker_dir.mkdir()
    refresh_crl(ca, broker_dir)
    crl = broker_dir / "crl.pem"
    lapsed_at = next_update(crl) + dt.timedelta(days=1)
    now = dt.datetime.now(dt.UTC)
    assert openssl_verifies(ca, crl, cert_path, now)
    # The certificate is good for two years, yet a day past nextUpdate it fails: the outage.
    assert not openssl_verifies(ca, crl, cert_path, lapsed_at)

    result = refresh(ca, passphrase_file, broker_dir, "--days", "60", "--no-reload")
    assert result.exit_code == 0, result.output
    assert "revoked serial(s), next update" in result.output
    assert next_update(crl) > lapsed_at
    assert openssl_verifies(ca, crl, cert_path, lapsed_at)


def test_refresh_signed_from_a_stale_ca_copy_never_unrevokes(ca, passphrase_file, tmp_path):
    key, cert = ca.issue_station("st-lost")
    _, cert_path = write_key_and_cert(tmp_path / "st-lost", "st-lost", key, cert)
    stale = CertificateAuthority.open(
        Path(shutil.copytree(ca.directory, tmp_path / "stale-ca")), PASSPHRASE.encode()
    )
    broker_dir = tmp_path / "broker"
    broker_dir.mkdir()
    ca.revoke("st-lost")  # on the technician's laptop; the server's copy does not know
    refresh_crl(ca, broker_dir)
    assert refresh(stale, passphrase_file, broker_dir, "--no-reload").exit_code == 0
    assert (
        "1 revoked serial(s)" in refresh(stale, passphrase_file, broker_dir, "--no-reload").output
    )
    assert not openssl_verifies(stale, broker_dir / "crl.pem", cert_path, dt.datetime.now(dt.UTC))
    # A CRL from another CA is refused, not merged.
    other = CertificateAuthority.init(tmp_path / "other", PASSPHRASE.encode())
    shutil.copyfile(other.directory / "crl.pem", broker_dir / "crl.pem")
    refused = refresh(ca, passphrase_file, broker_dir, "--no-reload")
    assert refused.exit_code == 1 and "not signed by this CA" in refused.output


@pytest.fixture
def tls_broker(ca) -> Iterator[TlsBroker]:
    broker = TlsBroker(ca).start()
    yield broker
    broker.cleanup()


def test_refresh_moves_next_update_and_the_broker_still_accepts_clients(
    ca, passphrase_file, tls_broker, tmp_path
):
    key, cert = ca.issue_station("st-ok")
    key_path, cert_path = write_key_and_cert(tmp_path / "ok", "st-ok", key, cert)
    crl = tls_broker.directory / "crl.pem"
    ca.publish_crl(days=2)  # a CRL two days from lapsing
    tls_broker.reload_crl()
    before = next_update(crl)
    pid_file = tmp_path / "mosquitto.pid"
    pid_file.write_text(f"{tls_broker.process.pid}\n")

    result = refresh(ca, passphrase_file, tls_broker.directory, "--pid-file", str(pid_file))
    assert result.exit_code == 0, result.output
    assert f"sent SIGHUP to mosquitto (pid {tls_broker.process.pid})" in result.output
    hand_to_mosquitto_user(tls_broker.directory)
    assert next_update(crl) - before > dt.timedelta(days=27)
    assert tls_broker.process.poll() is None
    wait_until(lambda: connects(tls_broker, cert_path, key_path), "a client after the reload")

    again = refresh(ca, passphrase_file, tls_broker.directory, "--pid-file", str(pid_file))
    assert again.exit_code == 0, again.output  # idempotent
    # A stale pid file naming another process is refused, not signalled.
    pid_file.write_text("1\n")
    stale = refresh(ca, passphrase_file, tls_broker.directory, "--pid-file", str(pid_file))
    assert stale.exit_code == 1 and "does not hold a process id" in stale.output


@pytest.fixture
def server(sqlite_url: str, ca: CertificateAuthority, tmp_path: Path) -> Iterator[dict]:
    cert_dir = tmp_path / "clients"
    key, cert = ca.issue("dcs-ingest-1", kind="client", days=40)
    write_key_and_cert(cert_dir, "dcs-ingest-1", key, cert)
    app = create_app(
        {
            "TESTING": True,
            "SECRET_KEY": "lifecycle-test-secret-0123456789abcdef",
            "DATABASE_URL": sqlite_url,
            "MQTT_CA_FILE": str(ca.directory / "chain.pem"),
            "MQTT_CERT_DIR": str(cert_dir),
            "MQTT_CRL_FILE": str(ca.directory / "crl.pem"),
        }
    )
    yield {"app": app, "worker_cert": cert}
    database.close()


def open_expiry_alarms() -> dict[tuple[str, str], str]:
    query = Alarm.select().where(Alarm.cleared_at.is_null(), Alarm.rule.in_(("certificate", "crl")))
    return {(a.station_id, a.rule): a.severity for a in query}


def test_expiry_alarms_escalate_under_a_shifted_clock(server, ca, login_client):
    expires = dt.datetime(2027, 6, 1, 12, tzinfo=dt.UTC)
    Enrollment.create(
        station_id="st-a", certificate_serial="1", certificate_sha256="0" * 64,
        not_after=expires, enrolled_by="test",
    )  # fmt: skip
    limits = alarms.thresholds()
    config = {}  # the station certificate only; the server's files below
    for days_before, severity in ((29, "warning"), (6, "warning"), (0.5, "critical")):
        expiry.evaluate(expires - dt.timedelta(days=days_before), limits, config)
        assert open_expiry_alarms() == {("st-a", "certificate"): severity}, days_before
    messages = [a.message for a in Alarm.select().where(Alarm.station_id == "st-a")]
    assert len(messages) == 3  # each stage raised anew (unacknowledged), the earlier cleared
    assert "within 30 days" in messages[0] and "within 7 days" in messages[1]
    expiry.evaluate(expires - dt.timedelta(days=6), limits, config)
    assert len(list(Alarm.select())) == 4  # a step back down is a new, milder alarm
    # A rotation with a fresh certificate ends it; so does decommissioning.
    Enrollment.create(
        station_id="st-a", certificate_serial="2", certificate_sha256="1" * 64,
        not_after=expires + dt.timedelta(days=730), enrolled_by="test", kind="rotate",
    )  # fmt: skip
    expiry.evaluate(expires, limits, config)
    assert open_expiry_alarms() == {}

    # The server's own files, through the rules loop with an injected clock: the CRL's
    # nextUpdate (30 days) and the worker's certificate (40 days).
    crl_lapses = next_update(ca.directory / "crl.pem")
    worker_expires = server["worker_cert"].not_valid_after_utc
    app = server["app"]
    for days_before, severity in ((29, "warning"), (6, "warning"), (0, "critical")):
        clock = crl_lapses - dt.timedelta(days=days_before)
        AlarmWorker(database.obj, app.config, clock=lambda c=clock: c).run_once()
        assert open_expiry_alarms()[("dcs-crl", "crl")] == severity, days_before
    # The worker's certificate has 10 days left then: warned, not yet critical.
    assert open_expiry_alarms()[("dcs-ingest-1", "certificate")] == "warning"
    AlarmWorker(database.obj, app.config, clock=lambda: worker_expires).run_once()
    assert open_expiry_alarms()[("dcs-ingest-1", "certificate")] == "critical"
    assert ("dcs-ca", "certificate") not in open_expiry_alarms()  # 10 years

    page = login_client("operations", app).get("/dashboard/alarms")
    assert page.status_code == 200
    assert "dcs-crl" in page.text and "CRL (nextUpdate) crl.pem" in page.text

    # The station rules loop must not clear what expiry keeps open.
    alarms.evaluate(worker_expires, limits)
    assert ("dcs-crl", "crl") in open_expiry_alarms()


def test_an_unreadable_crl_file_is_itself_critical(server, tmp_path):
    config = {"MQTT_CRL_FILE": str(tmp_path / "missing" / "crl.pem")}
    expiry.evaluate(dt.datetime.now(dt.UTC), alarms.thresholds(), config)
    assert open_expiry_alarms() == {("dcs-crl", "crl"): "critical"}
