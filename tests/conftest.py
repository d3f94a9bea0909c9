"""Fixtures: real Mosquitto, real PostgreSQL, a fresh server app and stations per test."""

from __future__ import annotations

import atexit
import json
import shutil
import tempfile
from collections.abc import Callable, Iterator
from functools import cache
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat

from device.config import StationConfig, config_from_dict
from device.station import Station, build_station
from device.store import create_key_file
from devtools.broker import LocalBroker
from devtools.cardstack import CardStackError, LocalPcscd
from devtools.postgres import PostgresServer
from provisioning.broker import SERVER_USER, BrokerLimits
from provisioning.pki import CertificateAuthority
from sync_server import broker_settings, create_app
from sync_server.db import database
from sync_server.ingest.worker import IngestWorker
from sync_server.migrations import upgrade_url
from sync_server.replicas.keys import public_key_text
from tests.helpers import wait_until
from tests.operator_fixtures import login_client, make_operator  # noqa: F401 - fixtures
from tests.release_fixtures import releases  # noqa: F401 - fixture

STATION_IDS = ("st-a", "st-b", "st-c")

#: The server's signing key in tests: test servers sign commands with it (``server_config``)
#: and test stations trust its public half (``station_config``), as a provisioned fleet does.
SERVER_SIGNING_KEY = Ed25519PrivateKey.generate()


@cache
def server_signing_key_file() -> Path:
    """``SERVER_SIGNING_KEY`` as the server reads it (``REPLICA_SIGNING_KEY_FILE``)."""
    directory = Path(tempfile.mkdtemp(prefix="dcs-test-server-key-"))
    atexit.register(shutil.rmtree, directory, ignore_errors=True)
    path = directory / "replica-signing.key"
    path.write_bytes(
        SERVER_SIGNING_KEY.private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption())
    )
    path.chmod(0o600)
    return path


@pytest.fixture(scope="module")
def pcscd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalPcscd]:
    """The real pcscd with a two-slot vpcd reader, by pid.

    Per module, not per session: pcscd is a machine-wide singleton (fixed socket), and the
    demo test starts its own, so none may outlive the module that uses it.
    """
    server = LocalPcscd(workdir=tmp_path_factory.mktemp("pcscd"))
    try:
        server.start()
    except CardStackError as exc:
        pytest.fail(f"cannot run the card tests: {exc}", pytrace=False)
    yield server
    server.cleanup()


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    server = PostgresServer().start()
    yield server
    server.stop()


_TEST_CA: list[CertificateAuthority] = []


def session_ca() -> CertificateAuthority:
    """One fleet CA for the whole test session: brokers and clients use its certificates."""
    if not _TEST_CA:
        import tempfile

        directory = Path(tempfile.mkdtemp(prefix="dcs-test-ca-")) / "ca"
        _TEST_CA.append(CertificateAuthority.init(directory, b"test-session-ca-passphrase"))
    return _TEST_CA[0]


@pytest.fixture
def broker_factory() -> Iterator[Callable[..., LocalBroker]]:
    brokers: list[LocalBroker] = []

    def make(limits: BrokerLimits | None = None) -> LocalBroker:
        # The generated TLS configuration: client certificates, the station ACL, the CRL.
        broker = LocalBroker(limits=limits or BrokerLimits(), ca=session_ca())
        broker.add_user(SERVER_USER)
        for station_id in STATION_IDS:
            broker.add_user(station_id)
        brokers.append(broker.start())
        return broker

    yield make
    for broker in brokers:
        broker.cleanup()


@pytest.fixture
def broker(broker_factory: Callable[..., LocalBroker]) -> LocalBroker:
    return broker_factory()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """An empty server database at the current schema (``dcs-server db upgrade`` applied)."""
    if request.param == "sqlite":
        return upgrade_url(f"sqlite:///{tmp_path / 'server.sqlite3'}")
    return upgrade_url(request.getfixturevalue("postgres_server").new_database())


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    """An empty SQLite server database at the current schema."""
    return upgrade_url(f"sqlite:///{tmp_path / 'server.sqlite3'}")


def server_config(database_url: str, broker: LocalBroker) -> dict:
    """The test configuration of a server app using ``broker``."""
    return {
        "TESTING": True,
        "SECRET_KEY": "test-only-secret",
        "DATABASE_URL": database_url,
        "REPLICA_SIGNING_KEY_FILE": str(server_signing_key_file()),
        **broker.server_config(),
    }


def write_server_toml(path: Path, settings: dict) -> Path:
    """``settings`` as the server's TOML file, for ``dcs-server`` run as a process
    (``DCS_SERVER_CONFIG``); unset (``None``) values are left out: TOML has no null."""
    path.write_text(
        "".join(
            f"{key} = {json.dumps(value)}\n" for key, value in settings.items() if value is not None
        )
    )
    return path


@pytest.fixture
def server_app(sqlite_url: str, broker: LocalBroker):
    app = create_app(server_config(sqlite_url, broker))
    yield app
    database.close()


@pytest.fixture
def ingest_factory(broker: LocalBroker) -> Iterator[Callable[..., IngestWorker]]:
    workers: list[IngestWorker] = []

    def make(app, worker_id: str = "1") -> IngestWorker:
        worker = IngestWorker(database.obj, broker_settings(app.config), worker_id=worker_id)
        workers.append(worker.start())
        wait_until(worker.connected.is_set, "the ingest worker to connect")
        return worker

    yield make
    for worker in workers:
        worker.stop()


@pytest.fixture
def ingest(server_app, ingest_factory) -> IngestWorker:
    return ingest_factory(server_app)


def station_config(
    root: Path, broker: LocalBroker, station_id: str = "st-a", **sync: object
) -> StationConfig:
    """A station config under ``root`` with short timeouts for tests; writes its secrets."""
    secrets_dir = root / station_id / "secrets"
    secrets_dir.mkdir(parents=True, exist_ok=True)
    broker_section = broker.station_broker(station_id, secrets_dir)
    if not (secrets_dir / "store.key").exists():
        create_key_file(secrets_dir / "store.key")
    settings = {
        "ack_timeout_s": 1.0,
        "ack_timeout_max_s": 4.0,
        "reconnect_initial_s": 0.1,
        "reconnect_max_s": 1.0,
        # The fleet's 0-3 s spread after a lost link has its own test (test_agent.py);
        # here it would only add seconds to every broker restart.
        "reconnect_spread_s": 0.2,
        "heartbeat_interval_s": 0.5,
        "lookup_timeout_s": 3.0,
        "poll_interval_s": 0.1,
    }
    settings.update(sync)
    return config_from_dict(
        {
            "station_id": station_id,
            "data_dir": str(root / station_id / "data"),
            "secrets_dir": str(secrets_dir),
            "broker": broker_section,
            "sync": settings,
            # Never the test machine's own reboot: the request is written down instead.
            "reboot_command": ["touch", str(root / station_id / "reboot-requested")],
            "server_public_key": public_key_text(SERVER_SIGNING_KEY),
        }
    )


@pytest.fixture
def station_factory(tmp_path: Path, broker: LocalBroker) -> Iterator[Callable[..., Station]]:
    stations: list[Station] = []

    def make(station_id: str = "st-a", start: bool = True, **sync: object) -> Station:
        station = build_station(station_config(tmp_path, broker, station_id, **sync))
        stations.append(station)
        if start:
            station.start()
        return station

    yield make
    for station in stations:
        station.close()


#: Modules that start pcscd (or the whole demo) themselves, without the ``pcscd`` fixture.
_OWN_PCSCD = {"test_card.py", "test_card_unit.py", "test_demo.py", "test_selftest.py"}


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Under pytest-xdist (``make test`` runs two workers), keep what shares a machine-wide
    resource on one worker: every test of the card stack (pcscd has one fixed socket), and
    the update tests that build the session's releases (built once, not once per worker)."""
    for item in items:
        fixtures = getattr(item, "fixturenames", ())
        if "pcscd" in fixtures or item.path.name in _OWN_PCSCD:
            item.add_marker(pytest.mark.xdist_group("pcscd"))
        elif "releases" in fixtures:
            item.add_marker(pytest.mark.xdist_group("releases"))
