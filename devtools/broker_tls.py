"""Mosquitto with the fleet's TLS configuration on a free loopback port, stopped by pid.

The configuration is exactly what technicians deploy (``provisioning/broker_tls.py``:
client certificates, the station ACL, the CRL); this runner starts it for tests, the bench
and the demo.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from devtools.broker import hand_to_mosquitto_user
from devtools.net import free_port, wait_for_port
from provisioning.broker import BrokerError, BrokerLimits
from provisioning.broker_tls import refresh_crl, write_broker_config
from provisioning.pki import CertificateAuthority


@dataclass
class TlsBroker:
    """Mosquitto with a generated TLS config on a free loopback port; stopped by pid."""

    ca: CertificateAuthority
    directory: Path | None = None
    host: str = "127.0.0.1"
    port: int = 0
    process: subprocess.Popen | None = None
    limits: BrokerLimits = field(default_factory=BrokerLimits)
    _made_directory: bool = False

    @property
    def server_cert_dir(self) -> Path:
        """The server processes' certificates, one each (the server's ``MQTT_CERT_DIR``)."""
        return self.directory / "clients"  # type: ignore[operator]

    def client_cert(self, identity: str) -> tuple[Path, Path]:
        """The certificate and key of one server process (``dcs-ingest-1``...)."""
        return (
            self.server_cert_dir / f"{identity}.crt.pem",
            self.server_cert_dir / f"{identity}.key.pem",
        )

    @property
    def chain(self) -> Path:
        """The CA chain clients verify the broker with."""
        return self.directory / "chain.pem"  # type: ignore[operator]

    def start(self) -> TlsBroker:
        """Write the config and start Mosquitto; wait until it accepts connections."""
        if self.directory is None:
            # Under the system temp dir: Mosquitto runs as its own user, which often cannot
            # traverse a pytest or home directory above the one it is given.
            self.directory = Path(tempfile.mkdtemp(prefix="dcs-mosquitto-tls-"))
            self._made_directory = True
        self.port = self.port or free_port(self.host)
        conf = write_broker_config(
            self.ca,
            self.directory,
            host=self.host,
            port=self.port,
            limits=self.limits,
        )
        hand_to_mosquitto_user(self.directory)
        log = open(self.directory / "mosquitto.log", "ab")  # noqa: SIM115 - owned by the process
        self.process = subprocess.Popen(
            ["mosquitto", "-c", str(conf)], stdout=log, stderr=subprocess.STDOUT
        )
        log.close()
        if not wait_for_port(self.host, self.port):
            self.stop()
            raise BrokerError(f"mosquitto did not start; see {self.directory / 'mosquitto.log'}")
        return self

    def reload_crl(self) -> None:
        """Copy the CA's CRL in and make Mosquitto re-read its config (SIGHUP, by pid)."""
        refresh_crl(self.ca, self.directory)  # type: ignore[arg-type]
        hand_to_mosquitto_user(self.directory)
        if self.process is not None:
            self.process.send_signal(1)

    def cleanup(self) -> None:
        """Stop, and delete the directory when this runner made it."""
        self.stop()
        if self._made_directory and self.directory is not None:
            shutil.rmtree(self.directory, ignore_errors=True)

    def stop(self) -> None:
        """SIGTERM by pid, then SIGKILL if it lingers; safe twice."""
        if self.process is None:
            return
        self.process.terminate()
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.process = None
