"""Replacing a station's SD card: its petition numbering continues, and a collision alarms.

The technician's CLI, a TLS Mosquitto with the fleet's configuration, the server on loopback
with an ingest worker, and the station daemon run from its enrolled bundle (``dcs-station
run``) with petitions filed by ``dcs-station petition`` — the processes a site runs.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from click.testing import CliRunner

from contract.identifiers import parse_petition_number
from devtools.broker_tls import TlsBroker
from provisioning.cli import main as provision
from provisioning.pki import CertificateAuthority
from sync_server import broker_settings, create_app
from sync_server.dashboard import alarms
from sync_server.db import database
from sync_server.fleet.enrollments import history
from sync_server.ingest.apply import Received, apply_batch
from sync_server.ingest.models import RejectedMessage
from sync_server.ingest.worker import IngestWorker
from sync_server.migrations import upgrade_url
from sync_server.petitions.filing import SERIAL_JUMP_LIMIT, highest_serials
from sync_server.petitions.models import Petition
from tests.api_tokens import PROVISIONING_SCOPES, api_token
from tests.helpers import wait_until
from tests.operator_fixtures import create_test_operator, log_in
from tests.web_browser import serving

PASSPHRASE = "correct horse battery staple"
BIN = Path(sys.executable).parent
ENV = {"COLUMNS": "100", "DCS_CA_PASSPHRASE": PASSPHRASE}
STATION = "st-lobby-r"


def invoke(*args: str, env: dict[str, str] | None = None):  # type: ignore[no-untyped-def]
    return CliRunner().invoke(provision, list(args), env={**ENV, **(env or {})})


@contextmanager
def daemon(config: Path, env: dict[str, str]) -> Iterator[subprocess.Popen]:
    """``dcs-station run`` from the card's bundle until it has connected; stopped at exit."""
    process = subprocess.Popen(
        [str(BIN / "dcs-station"), "-v", "run", "--config", str(config)],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    try:
        lines: list[str] = []
        wait_until(
            lambda: lines.append(process.stdout.readline()) or "connected to broker" in lines[-1],
            "the daemon to connect",
        )
        yield process
    finally:
        process.terminate()
        process.wait(30)
        process.stdout.close()


def file_petition(config: Path, env: dict[str, str]) -> str:
    """One petition through ``dcs-station petition``, as a technician or the kiosk files it."""
    done = subprocess.run(
        [str(BIN / "dcs-station"), "petition", "--config", str(config),
         "--phone", "0812345678", "--subject", "ลิฟต์เสีย", "--no-receipt"],
        env=env, capture_output=True, text=True, timeout=60, check=True,
    )  # fmt: skip
    return done.stdout.strip()


def petitions_on_server() -> set[str]:
    with database.connection_context():
        return {p.number for p in Petition.select().where(Petition.station_id == STATION)}


def test_a_replaced_card_continues_the_numbering_and_a_collision_raises_an_alarm(tmp_path):
    ca_dir = tmp_path / "ca"
    assert invoke("ca", "init", "--ca", str(ca_dir)).exit_code == 0
    broker = TlsBroker(CertificateAuthority.open(ca_dir, PASSPHRASE.encode())).start()
    try:
        app = create_app(
            {
                "TESTING": True,
                "SECRET_KEY": "replace-test-secret-0123456789abcdefghij",
                "DATABASE_URL": upgrade_url(f"sqlite:///{tmp_path / 'server.sqlite3'}"),
                "MQTT_HOST": broker.host,
                "MQTT_PORT": broker.port,
                "MQTT_CA_FILE": str(broker.chain),
                "MQTT_CERT_DIR": str(broker.server_cert_dir),
            }
        )
        worker = IngestWorker(database.obj, broker_settings(app.config)).start()
        try:
            with serving(app) as server:
                _replace_flow(tmp_path, ca_dir, broker, app, server)
        finally:
            worker.stop()
    finally:
        broker.stop()
        database.close()


def _replace_flow(tmp_path, ca_dir, broker, app, server) -> None:  # type: ignore[no-untyped-def]
    token = api_token("field-laptop-2", *PROVISIONING_SCOPES)
    on_server = {"DCS_SERVER_URL": server, "DCS_API_TOKEN": token}
    sd = tmp_path / "sd"
    made = invoke(
        "station", "new", "--ca", str(ca_dir), "--station-id", STATION,
        "--broker-host", broker.host, "--broker-port", str(broker.port), "--kiosk-port", "0",
        "--data-dir", str(sd / "var/lib/dcs"), "--secrets-dir", str(sd / "etc/dcs/bundle/secrets"),
    )  # fmt: skip
    assert made.exit_code == 0, made.output
    enroll = ["station", "enroll", "--bundle", str(ca_dir / "stations" / STATION),
              "--target", str(sd), "--fleet-root", str(ca_dir / "root.crt.pem")]  # fmt: skip
    assert invoke(*enroll, env=on_server).exit_code == 0
    config = sd / "etc/dcs/bundle/station.toml"
    env = {**os.environ, "DCS_FLEET_ROOT": str(sd / "etc/dcs/fleet-root.crt.pem")}

    # The first card files three petitions; the server applies them.
    with daemon(config, env):
        first = [file_petition(config, env) for _ in range(3)]
        wait_until(lambda: petitions_on_server() == set(first), "the first card's petitions")
    assert [parse_petition_number(n).serial for n in first] == [1, 2, 3]

    # The card dies. A blank one with the same bundle would number from 1 again: refused.
    shutil.rmtree(sd)
    blank = invoke(*enroll, env=on_server)
    assert blank.exit_code == 1 and "station replace" in blank.output, blank.output
    assert not (sd / "etc/dcs/bundle").exists()

    replaced = invoke(
        "station", "replace", "--ca", str(ca_dir), "--station-id", STATION,
        "--target", str(sd), "--by", "somsak", env=on_server,
    )  # fmt: skip
    assert replaced.exit_code == 0, replaced.output
    assert f"next petition is P-{STATION.upper()}-0000004-" in replaced.output
    assert "recorded on the server" in replaced.output
    assert "petition_floor = 3" in config.read_text()  # in the signed bundle

    with daemon(config, env):
        second = [file_petition(config, env) for _ in range(2)]
        wait_until(
            lambda: petitions_on_server() == set(first + second), "the replacement's petitions"
        )
    assert [parse_petition_number(n).serial for n in second] == [4, 5]
    with database.connection_context():
        assert RejectedMessage.select().count() == 0
        assert alarms.open_alarms(STATION) == []
        assert highest_serials([STATION]) == {STATION: 5}
        assert [e.kind for e in history(STATION)][:1] == ["replace"]
        assert history(STATION)[0].enrolled_by == "somsak"

    # Forced collision: the card is wiped again and enrolled with no server to check it, so
    # it mints serial 4 once more. The server refuses it, and now says so.
    shutil.rmtree(sd)
    assert invoke(*enroll).exit_code == 0  # no --server-url: nothing to refuse it
    with daemon(config, env):
        again = file_petition(config, env)
        assert parse_petition_number(again).serial == 4
        wait_until(
            _open_rejected_alarm,
            "the rejected-transaction alarm",
        )
    with database.connection_context():
        (alarm,) = [a for a in alarms.open_alarms(STATION) if a.rule == "rejected"]
        assert alarm.severity == "critical"
        assert alarm.message == f"number_taken {again}"
        (refused,) = RejectedMessage.select()
        assert "already taken" in refused.reason
    _alarm_reads_in_each_language(app, again)


def _open_rejected_alarm() -> bool:
    with database.connection_context():
        return any(a.rule == "rejected" for a in alarms.open_alarms(STATION))


def _alarm_reads_in_each_language(app, number: str) -> None:  # type: ignore[no-untyped-def]
    username, password = create_test_operator("operations")
    client = log_in(app.test_client(), username, password)
    expected = {
        "en": "is already on the server",
        "th": "มีอยู่ในเซิร์ฟเวอร์แล้ว",
        "vi": "đã có trên máy chủ",
    }
    for lang, words in expected.items():
        page = client.get(f"/dashboard/stations/{STATION}?lang={lang}").text
        assert words in page and number in page, lang
        assert "number_taken" not in page


def test_a_serial_far_past_the_stations_last_is_refused_and_moves_nothing(sqlite_url):
    """A station cannot push its own numbering to the end of its range with one message."""
    from tests.petition_fixtures import file_petitions

    create_app({"TESTING": True, "SECRET_KEY": "x" * 32, "DATABASE_URL": sqlite_url})
    try:
        with database.connection_context():
            file_petitions("st-a", 3)
            assert highest_serials(["st-a"]) == {"st-a": 3}
            far = _petition("st-a", 3 + SERIAL_JUMP_LIMIT + 1)
            _acks, rejected = apply_batch(database.obj, [far])
            assert [(r.tx.tx_id, "jumps more than" in why) for r, why in rejected] == [
                (far.tx.tx_id, True)
            ]
            assert highest_serials(["st-a"]) == {"st-a": 3}  # the refused one moved nothing
            # Within the limit (a station's window of unacked petitions may arrive unordered).
            near = _petition("st-a", 3 + SERIAL_JUMP_LIMIT)
            assert apply_batch(database.obj, [near])[1] == []
            assert highest_serials(["st-a"]) == {"st-a": 3 + SERIAL_JUMP_LIMIT}
    finally:
        database.close()


def _petition(station_id: str, serial: int) -> Received:
    from datetime import UTC, datetime

    from contract import Transaction
    from device.store.ids import new_tx_id, petition_number

    now = datetime.now(UTC)
    tx = Transaction(
        tx_id=new_tx_id(),
        station_id=station_id,
        seq=serial,
        kind="petition.filed",
        station_time=now,
        body={"number": petition_number(station_id, serial), "service": "general_petition",
              "phone": "0812345678", "form": {}},
    )  # fmt: skip
    return Received(tx=tx, received_at=now)


def test_the_upgrade_fills_each_stations_highest_serial_from_its_petitions(tmp_path):
    """A server upgraded to 006 already knows how far each station's numbering went."""
    from peewee_migrate import Router

    from device.store.ids import petition_number
    from sync_server import migrations
    from sync_server.db import open_database

    db = open_database(f"sqlite:///{tmp_path / 'old.sqlite3'}")
    database.initialize(db)
    db.connect()
    try:
        router = Router(
            db, migrate_dir=migrations.MIGRATIONS_DIR, migrate_table=migrations.HISTORY_TABLE
        )
        steps = migrations.known_steps()
        for step in steps[: steps.index("006_counters_and_diagnostics")]:
            router.run(step)
        for station_id, serial in [("st-a", 7), ("st-a", 12), ("st-a-1", 3), ("st-b", 1)]:
            db.execute_sql(
                "INSERT INTO petition (number, tx_id, station_id, service, phone, form, status,"
                " filed_station_time, received_at) VALUES (?, ?, ?, 'general_petition',"
                " '0812345678', '{}', 'received', '2026-01-01', '2026-01-01')",
                (petition_number(station_id, serial), f"tx-{station_id}-{serial}", station_id),
            )
        router.run("006_counters_and_diagnostics")
        assert highest_serials(["st-a", "st-a-1", "st-b", "st-c"]) == {
            "st-a": 12,
            "st-a-1": 3,
            "st-b": 1,
        }
    finally:
        db.close()
