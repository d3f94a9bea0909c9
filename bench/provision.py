"""Provisioning: from ``station new`` to a self-tested station syncing on a TLS broker.

The CA and the broker exist (made once per fleet); package installation is excluded. Timed
steps, each through the technician's CLI: ``station new`` (key, certificate, signed bundle),
``station enroll`` (verify, write onto the "SD card", record on the server through its API,
served on loopback), ``station
selftest`` (hardening checks and a live round trip through the broker to the server), then
the daemon starts from the bundle and a petition filed at it is applied on the server.
Baseline: the same daemon start → petition applied for the already-provisioned station, so
the ratio is what provisioning adds. Target: ≤ 60 s.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from click.testing import CliRunner

from bench.common import Row

PASSPHRASE = "bench passphrase for the fleet CA"  # noqa: S105 - a throw-away bench CA
TARGET_S = 60.0


def _daemon_to_applied(config: Path, env: dict[str, str], database, petition_model) -> float:  # type: ignore[no-untyped-def]
    bin_dir = Path(sys.executable).parent
    started = time.perf_counter()
    daemon = subprocess.Popen(
        [str(bin_dir / "dcs-station"), "run", "--config", str(config)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        number = subprocess.run(
            [str(bin_dir / "dcs-station"), "petition", "--config", str(config),
             "--phone", "0812345678", "--subject", "bench", "--no-receipt"],
            env=env, check=True, capture_output=True, text=True,
        ).stdout.strip()  # fmt: skip
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            with database.connection_context():
                if petition_model.get_or_none(petition_model.number == number):
                    return time.perf_counter() - started
            time.sleep(0.02)
        raise TimeoutError("the petition never reached the server")
    finally:
        daemon.terminate()
        daemon.wait(30)


def run(quick: bool = False) -> list[Row]:
    """Time the provisioning steps; print each; return the summary rows."""
    from werkzeug.serving import make_server

    from devtools.broker_tls import TlsBroker
    from devtools.net import free_port
    from provisioning.cli import main as provision
    from provisioning.pki import CertificateAuthority
    from sync_server import broker_settings, create_app
    from sync_server.api.tokens import create_token
    from sync_server.db import database
    from sync_server.ingest.worker import IngestWorker
    from sync_server.migrations import upgrade_url
    from sync_server.petitions.models import Petition

    root = Path(tempfile.mkdtemp(prefix="dcs-bench-provision-"))
    env = {**os.environ, "COLUMNS": "100", "DCS_CA_PASSPHRASE": PASSPHRASE}
    runner = CliRunner()

    def cli(*args: str) -> str:
        result = runner.invoke(provision, list(args), env=env)
        if result.exit_code != 0:
            raise RuntimeError(f"dcs-provision {' '.join(args[:2])} failed: {result.output}")
        return result.output

    ca_dir = root / "ca"
    cli("ca", "init", "--ca", str(ca_dir))
    broker = TlsBroker(CertificateAuthority.open(ca_dir, PASSPHRASE.encode())).start()
    worker = web = None
    try:
        server_config = root / "server.toml"
        database_url = upgrade_url(f"sqlite:///{root / 'server.sqlite3'}")
        server_config.write_text(
            'SECRET_KEY = "bench-provision-secret-0123456789abcdefgh"\n'
            f'DATABASE_URL = "{database_url}"\n'
            f'MQTT_HOST = "{broker.host}"\nMQTT_PORT = {broker.port}\n'
            f'MQTT_CA_FILE = "{broker.chain}"\n'
            f'MQTT_CERT_DIR = "{broker.server_cert_dir}"\n'
        )
        os.environ["DCS_SERVER_CONFIG"] = str(server_config)
        app = create_app()
        worker = IngestWorker(database.obj, broker_settings(app.config), worker_id="1").start()
        web = make_server("127.0.0.1", free_port(), app, threaded=True)
        threading.Thread(target=web.serve_forever, daemon=True).start()
        with database.connection_context():
            scopes = ("stations:enroll", "stations:command")
            env["DCS_API_TOKEN"] = create_token("bench", scopes, actor="bench").secret
        env["DCS_SERVER_URL"] = f"http://127.0.0.1:{web.server_port}"

        sd = root / "sd"
        steps: dict[str, float] = {}
        t0 = time.perf_counter()
        cli("station", "new", "--ca", str(ca_dir), "--station-id", "st-bench",
            "--broker-host", broker.host, "--broker-port", str(broker.port),
            "--data-dir", str(sd / "var/lib/dcs"),
            "--secrets-dir", str(sd / "etc/dcs/bundle/secrets"))  # fmt: skip
        steps["station new"] = time.perf_counter() - t0
        t1 = time.perf_counter()
        cli("station", "enroll", "--bundle", str(ca_dir / "stations/st-bench"),
            "--target", str(sd), "--fleet-root", str(ca_dir / "root.crt.pem"),
            "--by", "bench")  # fmt: skip
        steps["station enroll"] = time.perf_counter() - t1
        config = sd / "etc/dcs/bundle/station.toml"
        t2 = time.perf_counter()
        cli("station", "selftest", "--config", str(config), "--root", str(sd))
        steps["station selftest (+ server round trip)"] = time.perf_counter() - t2
        station_env = {**env, "DCS_FLEET_ROOT": str(sd / "etc/dcs/fleet-root.crt.pem")}
        steps["daemon start → first petition applied"] = _daemon_to_applied(
            config, station_env, database, Petition
        )
        total = sum(steps.values())  # the daemon's stop is not part of it
        baseline = _daemon_to_applied(config, station_env, database, Petition)
    finally:
        if web is not None:
            web.shutdown()
        if worker is not None:
            worker.stop()
        broker.cleanup()
        database.close()
        os.environ.pop("DCS_SERVER_CONFIG", None)
        shutil.rmtree(root, ignore_errors=True)
    for name, seconds in steps.items():
        print(f"provision: {name:40} {seconds * 1000:8,.0f} ms")
    print(f"provision: total {total:.2f} s (already provisioned: {baseline:.2f} s)")
    return [
        Row(
            "provision",
            "station new → self-tested station syncing (TLS)",
            total,
            "s",
            baseline=baseline,
            target=f"<= {TARGET_S:.0f} s",
            ok=total <= TARGET_S,
        )
    ]
