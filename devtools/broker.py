"""A local Mosquitto for tests, the bench and the demo: the fleet's configuration, started
on a free loopback port with a config directory of its own, and stopped by pid.

The configuration itself (password file, ACL, conf lines, TLS files) is what technicians
deploy: ``provisioning/broker.py`` and ``provisioning/broker_tls.py``. With a certificate
authority (``LocalBroker(ca=...)``) the runner uses TLS client certificates instead of
passwords (``require_certificate``, ``use_identity_as_username``, ``use_username_as_clientid``,
the CRL): the identity and client id are the certificate's common name, every server process
has its own certificate (``server_config()`` gives their directory) and the ACL stays the
same. ``dcs-server`` keeps access to the whole tree here: the tests' observers use it.
"""

from __future__ import annotations

import os
import pwd
import secrets
import shutil
import signal
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from contract import is_valid_station_id
from contract.transport import BrokerSettings
from devtools.net import free_port, wait_for_port
from provisioning.broker import (
    SERVER_USER,
    BrokerError,
    BrokerLimits,
    acl_text,
    hash_passwords,
    mosquitto_conf,
    server_identities,
)
from provisioning.broker_tls import mosquitto_tls_conf

if TYPE_CHECKING:
    from provisioning.pki import CertificateAuthority


def hand_to_mosquitto_user(directory: Path) -> None:
    """Give ``directory`` to the ``mosquitto`` user when running as root.

    Run as root, Mosquitto drops to its own user, which must read its files.
    """
    if os.geteuid() != 0:
        return
    try:
        pwd.getpwnam("mosquitto")
    except KeyError:
        return
    for path in [directory, *directory.rglob("*")]:
        shutil.chown(path, "mosquitto", "mosquitto")


@dataclass
class LocalBroker:
    """A Mosquitto process on a free loopback port, with its own config directory.

    Started and stopped by pid, never by name. When run as root, Mosquitto drops to the
    ``mosquitto`` user, so the directory is handed to that user; by default it is a fresh
    directory under the system temp dir, which that user can reach (a pytest or home
    directory above it often cannot be traversed by another user).
    """

    workdir: Path | None = None
    credentials: dict[str, str] = field(default_factory=dict)
    limits: BrokerLimits = field(default_factory=BrokerLimits)
    port: int = 0
    host: str = "127.0.0.1"
    process: subprocess.Popen | None = None
    #: Set: clients authenticate with certificates from this CA (provisioning.pki), not passwords.
    ca: CertificateAuthority | None = None
    #: Extra accounts that read and write the whole tree, besides ``dcs-server`` (the
    #: benchmarks' raw baseline: two clients need two identities when the certificate's
    #: name is the client id). Never in a deployed broker.
    observers: tuple[str, ...] = ()

    # -- what a client needs to connect, whichever the mode ------------------------------

    def client_files(self, username: str) -> tuple[Path, Path, Path]:
        """TLS mode: the CA chain, ``username``'s certificate and its key."""
        if self.ca is None or self.workdir is None:
            raise BrokerError("this broker uses passwords, not certificates")
        clients = self.workdir / "clients"
        return (
            self.workdir / "chain.pem",
            clients / f"{username}.crt.pem",
            clients / f"{username}.key.pem",
        )

    def settings_for(self, username: str) -> BrokerSettings:
        """Connection settings for ``username`` (a password, or its certificate)."""
        if self.ca is None:
            return BrokerSettings(
                host=self.host,
                port=self.port,
                username=username,
                password=self.credentials[username],
            )
        ca_file, cert_file, key_file = self.client_files(username)
        return BrokerSettings(
            host=self.host,
            port=self.port,
            username=username,
            password=None,
            ca_file=ca_file,
            cert_file=cert_file,
            key_file=key_file,
        )

    def server_config(self) -> dict[str, object]:
        """The ``MQTT_*`` entries of the central server's config."""
        entries: dict[str, object] = {
            "MQTT_HOST": self.host,
            "MQTT_PORT": self.port,
            "MQTT_USERNAME": SERVER_USER,
        }
        if self.ca is None:
            entries["MQTT_PASSWORD"] = self.credentials[SERVER_USER]
        else:
            entries.update(
                MQTT_PASSWORD=None,
                MQTT_CA_FILE=str(self.workdir / "chain.pem"),  # type: ignore[operator]
                MQTT_CERT_DIR=str(self.workdir / "clients"),  # type: ignore[operator]
            )
        return entries

    def station_broker(self, station_id: str, secrets_dir: Path) -> dict[str, object]:
        """Put the station's credential in ``secrets_dir``; its ``[broker]`` config section."""
        section: dict[str, object] = {"host": self.host, "port": self.port}
        if self.ca is None:
            (secrets_dir / "broker.password").write_text(self.credentials[station_id])
            section["password_file"] = "broker.password"  # noqa: S105 - a file name
            return section
        for source, name in zip(
            self.client_files(station_id),
            ("chain.pem", "station.crt.pem", "station.key.pem"),
            strict=True,
        ):
            target = secrets_dir / name
            target.write_bytes(source.read_bytes())
            target.chmod(0o600)
        section.update(ca_file="chain.pem", cert_file="station.crt.pem", key_file="station.key.pem")
        return section

    def add_user(self, username: str) -> str:
        """Create a credential (random password) and return the password."""
        if username not in (SERVER_USER, *self.observers) and not is_valid_station_id(username):
            raise BrokerError(f"invalid station id {username!r}")
        password = self.credentials.get(username) or secrets.token_urlsafe(24)
        self.credentials[username] = password
        return password

    def write_config(self) -> Path:
        """Write mosquitto.conf, passwd and acl; returns the conf path."""
        if self.workdir is None:
            self.workdir = Path(tempfile.mkdtemp(prefix="dcs-mosquitto-"))
        self.workdir.mkdir(parents=True, exist_ok=True)
        (self.workdir / "data").mkdir(exist_ok=True)
        if not self.port:
            self.port = free_port(self.host)
        conf = self.workdir / "mosquitto.conf"
        # Password mode: one dcs-server account; TLS: one identity per server process too.
        identities = server_identities() if self.ca is not None else None
        (self.workdir / "acl").write_text(
            acl_text(identities, full_access=(SERVER_USER, *self.observers))
        )
        if self.ca is None:
            hash_passwords(self.workdir / "passwd", self.credentials)
            conf.write_text(mosquitto_conf(self.workdir, self.port, self.limits, self.host))
        else:
            self._issue_certificates()
            conf.write_text(mosquitto_tls_conf(self.workdir, self.host, self.port, self.limits))
        hand_to_mosquitto_user(self.workdir)
        return conf

    def _issue_certificates(self) -> None:
        from provisioning.pki import write_key_and_cert

        assert self.ca is not None and self.workdir is not None
        key, cert = self.ca.issue("dcs-broker", kind="server", hosts=("localhost", self.host))
        write_key_and_cert(self.workdir, "broker", key, cert)
        (self.workdir / "chain.pem").write_bytes(self.ca.chain_pem())
        shutil.copyfile(self.ca.directory / "crl.pem", self.workdir / "crl.pem")
        names = [*self.credentials, *server_identities()]
        for username, (key, cert) in zip(
            names, self.ca.issue_many(names, kind="client"), strict=True
        ):
            write_key_and_cert(self.workdir / "clients", username, key, cert)

    def start(self) -> LocalBroker:
        """Start (writing the config first if needed) and wait until it accepts connections."""
        if self.workdir is None or not (self.workdir / "mosquitto.conf").exists():
            self.write_config()
        conf = self.workdir / "mosquitto.conf"
        log = open(self.workdir / "mosquitto.log", "ab")  # noqa: SIM115 - owned by the process
        self.process = subprocess.Popen(
            ["mosquitto", "-c", str(conf)], stdout=log, stderr=subprocess.STDOUT
        )
        log.close()
        if not wait_for_port(self.host, self.port):
            self.kill()
            raise BrokerError(f"mosquitto did not start; see {self.workdir / 'mosquitto.log'}")
        return self

    def stop(self, timeout: float = 10) -> None:
        """Stop gracefully by pid (SIGTERM, it saves persistence); safe twice."""
        if self.process is None:
            return
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None

    def kill(self) -> None:
        """Crash it (SIGKILL): what it queued since the last autosave is gone."""
        if self.process is not None:
            self.process.kill()
            self.process.wait()
            self.process = None

    def restart(self) -> None:
        """Stop and start again on the same port."""
        self.stop()
        self.start()

    def cleanup(self) -> None:
        """Stop and delete the working directory."""
        self.stop()
        if self.workdir is not None:
            shutil.rmtree(self.workdir, ignore_errors=True)

    def __enter__(self) -> LocalBroker:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.cleanup()
