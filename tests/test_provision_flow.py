"""The technician's flow through the CLI: ca init → broker config → station new → enroll →
the daemon runs from the bundle over TLS → rotate → decommission. Each step is recorded on
the central server, served on loopback, through its API with a technician's token (the
laptop has no server secret). Fixed terminal width."""

from __future__ import annotations

import os
import subprocess
import sys
from contextlib import ExitStack
from pathlib import Path

from click.testing import CliRunner
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from devtools.broker_tls import TlsBroker
from provisioning.cli import main as provision
from provisioning.pki import CertificateAuthority
from sync_server import create_app
from sync_server.audit.models import AuditEvent
from sync_server.dashboard.models import CommandRecord
from sync_server.db import database
from sync_server.fleet.enrollments import history
from sync_server.migrations import upgrade_url
from sync_server.replicas import enrol_station
from tests.api_tokens import PROVISIONING_SCOPES, api_token
from tests.helpers import wait_until
from tests.web_browser import serving

PASSPHRASE = "correct horse battery staple"
DAEMON = str(Path(sys.executable).with_name("dcs-station"))
ENV = {"COLUMNS": "100", "DCS_CA_PASSPHRASE": PASSPHRASE}


def invoke(*args: str, env: dict[str, str] | None = None):  # type: ignore[no-untyped-def]
    return CliRunner().invoke(provision, list(args), env={**ENV, **(env or {})})


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
    stack = ExitStack()
    try:
        app = create_app(
            {
                "TESTING": True,
                "SECRET_KEY": "flow-test-secret-0123456789abcdefghijkl",
                "DATABASE_URL": upgrade_url(f"sqlite:///{tmp_path / 'server.sqlite3'}"),
                "MQTT_HOST": broker.host,
                "MQTT_PORT": broker.port,
                "MQTT_CA_FILE": str(broker.chain),
                "MQTT_CERT_DIR": str(broker.server_cert_dir),
            }
        )
        server = stack.enter_context(serving(app))
        token = api_token("field-laptop-1", *PROVISIONING_SCOPES)
        on_server = {"DCS_SERVER_URL": server, "DCS_API_TOKEN": token}
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
                "--fleet-root", str(ca_dir / "root.crt.pem"), "--by", "somchai"]  # fmt: skip
        first = invoke(*args, "--server-url", server, "--token", token)
        assert first.exit_code == 0 and "st-lobby-z enrolled" in first.output, first.output
        assert "recorded on the server" in first.output
        again = invoke(*args, env=on_server)  # the same, from the environment
        assert "already enrolled" in again.output
        assert "already on the server's record" in again.output
        assert all(token not in result.output for result in (first, again))

        with database.connection_context():
            (entry,) = history("st-lobby-z")
            assert entry.enrolled_by == "somchai" and entry.kind == "enrol"
            enrol_station(  # its replica, so the decommission has one to wipe
                "st-lobby-z",
                "building-1",
                X25519PrivateKey.generate().public_key().public_bytes_raw(),
            )

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

        rotated = invoke(
            "station", "rotate", "--ca", str(ca_dir), "--bundle", str(bundle), env=on_server
        )
        assert rotated.exit_code == 0 and "re-signed" in rotated.output, rotated.output
        assert "rotation to certificate" in rotated.output
        assert invoke(*args, env=on_server).exit_code == 0  # re-enrolled over the edited card

        gone = invoke(
            "station", "decommission", "--ca", str(ca_dir), "--station-id", "st-lobby-z",
            "--on-site", str(sd), env=on_server,
        )  # fmt: skip
        assert gone.exit_code == 0 and "CRL republished" in gone.output, gone.output
        assert "marked 2 certificate(s) decommissioned" in gone.output  # the first and rotated
        assert "wipe_replica queued" in gone.output
        assert not (sd / "etc/dcs/bundle").exists()
        assert b"BEGIN X509 CRL" in (ca_dir / "crl.pem").read_bytes()
        again = invoke("station", "decommission", "--ca", str(ca_dir), "--station-id", "st-lobby-z")
        assert again.exit_code == 1 and "no live certificate" in again.output

        with database.connection_context():
            kinds = [entry.kind for entry in reversed(history("st-lobby-z"))]
            assert kinds == ["enrol", "rotate", "enrol", "decommission", "decommission"]
            assert {entry.enrolled_by for entry in history("st-lobby-z")} == {
                "somchai",
                "field-laptop-1",  # no --by: the token's name
            }
            actors = {
                event.action: event.actor
                for event in AuditEvent.select().where(AuditEvent.subject == "st-lobby-z")
                if event.action.startswith(("station.", "command."))
            }
            assert actors == {
                "station.enrol": "field-laptop-1",
                "station.rotate": "field-laptop-1",
                "station.decommission": "field-laptop-1",
                "command.wipe_replica": "field-laptop-1",
            }
            (wipe,) = CommandRecord.select().where(CommandRecord.station_id == "st-lobby-z")
            assert (wipe.name, wipe.status) == ("wipe_replica", "pending")
    finally:
        stack.close()
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
    for line in ("require_certificate true", "use_identity_as_username true",
                 "use_username_as_clientid true", "crlfile", "cafile"):  # fmt: skip
        assert line in conf
    acl = (out / "acl").read_text()
    assert "pattern write dcs/v1/stations/%u/tx" in acl
    assert "user dcs-server" not in acl  # no all-seeing account: one identity per process
    for identity in ("dcs-ingest-1", "dcs-ingest-2", "dcs-kiosk-1", "dcs-replica-1",
                     "dcs-commands", "dcs-rollouts-1"):  # fmt: skip
        assert f"user {identity}" in acl
        assert (out / f"clients/{identity}.crt.pem").exists()
