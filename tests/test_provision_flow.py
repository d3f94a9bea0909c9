"""The technician's flow through the CLI: ca init → broker config → station new → enroll →
the daemon runs from the bundle over TLS → rotate → decommission. Fixed terminal width."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from click.testing import CliRunner

from devtools.broker_tls import TlsBroker
from provisioning.cli import main as provision
from provisioning.pki import CertificateAuthority
from sync_server import create_app
from sync_server.db import database
from sync_server.enrollments import history
from tests.helpers import wait_until

PASSPHRASE = "correct horse battery staple"
DAEMON = str(Path(sys.executable).with_name("dcs-station"))
ENV = {"COLUMNS": "100", "DCS_CA_PASSPHRASE": PASSPHRASE}


def invoke(*args: str):  # type: ignore[no-untyped-def]
    return CliRunner().invoke(provision, list(args), env=ENV)


def test_blank_card_to_enrolled_station_then_rotate_and_decommission(tmp_path, monkeypatch):
    ca_dir = tmp_path / "ca"
    assert invoke("ca", "init", "--ca", str(ca_dir)).exit_code == 0
    wrong = CliRunner().invoke(
        provision,
        ["station", "new", "--ca", str(ca_dir), "--station-id", "st-x", "--broker-host", "h"],
        env={"COLUMNS": "100", "DCS_CA_PASSPHRASE": "not the passphrase"},
    )
    assert wrong.exit_code == 1 and "wrong CA passphrase" in wrong.output

    broker = TlsBroker(CertificateAuthority.open(ca_dir, PASSPHRASE.encode())).start()
    try:
        server_config = tmp_path / "server.toml"
        cert, key = broker.server_cert
        server_config.write_text(
            'SECRET_KEY = "flow-test-secret-0123456789abcdefghijkl"\n'
            f'DATABASE_URL = "sqlite:///{tmp_path / "server.sqlite3"}"\n'
            f'MQTT_HOST = "{broker.host}"\nMQTT_PORT = {broker.port}\n'
            f'MQTT_CA_FILE = "{broker.chain}"\nMQTT_CERT_FILE = "{cert}"\n'
            f'MQTT_KEY_FILE = "{key}"\n'
        )
        sd = tmp_path / "sd"
        made = invoke(
            "station", "new", "--ca", str(ca_dir), "--station-id", "st-lobby-z",
            "--broker-host", broker.host, "--broker-port", str(broker.port),
            "--data-dir", str(sd / "var/lib/dcs"),
            "--secrets-dir", str(sd / "etc/dcs/bundle/secrets"),
        )  # fmt: skip
        assert made.exit_code == 0, made.output
        bundle = ca_dir / "stations/st-lobby-z"
        args = ["station", "enroll", "--bundle", str(bundle), "--target", str(sd),
                "--fleet-root", str(ca_dir / "root.crt.pem"),
                "--server-config", str(server_config), "--by", "somchai"]  # fmt: skip
        first = invoke(*args)
        assert first.exit_code == 0 and "st-lobby-z enrolled" in first.output, first.output
        assert "already enrolled" in invoke(*args).output

        app = create_app(
            {"TESTING": True, "DATABASE_URL": f"sqlite:///{tmp_path / 'server.sqlite3'}"}
        )
        with app.app_context(), database.connection_context():
            (entry,) = history("st-lobby-z")
            assert entry.enrolled_by == "somchai" and entry.kind == "enrol"

        # The daemon runs from the enrolled bundle and reaches the broker with its certificate.
        config = sd / "etc/dcs/bundle/station.toml"
        env = {**os.environ, "DCS_FLEET_ROOT": str(sd / "etc/dcs/fleet-root.crt.pem")}
        daemon = subprocess.Popen(
            [DAEMON, "-v", "run", "--config", str(config)],
            env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        )  # fmt: skip
        try:
            lines: list[str] = []
            wait_until(
                lambda: (
                    lines.append(daemon.stdout.readline()) or "connected to broker" in lines[-1]
                ),
                "the daemon to connect over TLS",
            )
        finally:
            daemon.terminate()
            daemon.wait(30)
            daemon.stdout.close()

        # An altered bundle: the daemon refuses to start.
        config.write_text(config.read_text() + "\n# edited on the card\n")
        refused = subprocess.run(
            [DAEMON, "run", "--config", str(config)],
            env=env, capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        assert refused.returncode != 0 and "altered" in refused.stderr

        rotated = invoke("station", "rotate", "--ca", str(ca_dir), "--bundle", str(bundle))
        assert rotated.exit_code == 0 and "re-signed" in rotated.output
        assert invoke(*args).exit_code == 0  # re-enrolled over the edited card

        gone = invoke(
            "station", "decommission", "--ca", str(ca_dir), "--station-id", "st-lobby-z",
            "--on-site", str(sd),
        )  # fmt: skip
        assert gone.exit_code == 0 and "CRL republished" in gone.output
        assert not (sd / "etc/dcs/bundle").exists()
        assert b"BEGIN X509 CRL" in (ca_dir / "crl.pem").read_bytes()
        again = invoke("station", "decommission", "--ca", str(ca_dir), "--station-id", "st-lobby-z")
        assert again.exit_code == 1 and "no live certificate" in again.output
    finally:
        broker.cleanup()
        database.close()


def test_broker_config_command_writes_tls_acl_and_crl(tmp_path):
    ca_dir = tmp_path / "ca"
    assert invoke("ca", "init", "--ca", str(ca_dir)).exit_code == 0
    out = tmp_path / "broker"
    result = invoke("broker", "config", "--ca", str(ca_dir), "--out", str(out), "--port", "8883",
                    "--hostname", "broker.dcs.example")  # fmt: skip
    assert result.exit_code == 0, result.output
    conf = (out / "mosquitto.conf").read_text()
    for line in ("require_certificate true", "use_identity_as_username true", "crlfile", "cafile"):
        assert line in conf
    acl = (out / "acl").read_text()
    assert "pattern write dcs/v1/stations/%u/tx" in acl and "user dcs-server" in acl
    assert (out / "clients/dcs-server.crt.pem").exists()
