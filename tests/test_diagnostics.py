"""Diagnostics bundles: the allowlist and the redactor, the remote command end to end through
Mosquitto (station → server → the dashboard's download), the on-site CLI, and what the server
refuses from a station that uploads on its own. Each bundle passes the privacy scan with a
synthetic resident's citizen id, names and phone seeded into the store and the log."""

from __future__ import annotations

import hashlib
import io
import json
import logging
import os
import subprocess
import sys
import uuid
import zipfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

import msgspec
import pytest

from contract import DIAGNOSTICS_PART_BYTES, DiagnosticsPart, ReplicaContent
from device.config import ReplicaConfig
from device.diagnostics import ALLOWLIST, Redactor, allowlisted
from device.logfile import attach_log_file, log_path
from device.replica.store import ReplicaStore
from device.station import Station, build_station
from device.store import load_key
from devtools.seed import seed_records
from devtools.synthetic import SyntheticResident, residents
from sync_server.audit.models import AuditEvent
from sync_server.dashboard.models import CommandRecord
from sync_server.db import database, utc_now
from sync_server.diagnostics.models import DiagnosticsBundle
from sync_server.diagnostics.receive import DiagnosticsRefused, accept_part
from sync_server.ingest.models import RejectedMessage
from sync_server.records.read import insured_record
from sync_server.replicas.keys import public_key_text
from tests.conftest import SERVER_SIGNING_KEY, station_config
from tests.helpers import wait_until
from tests.operator_fixtures import csrf_token
from tests.privacy import personal_values, privacy_findings

PHONE = "0891234567"
BUILDING = "building-1"


def names_of(person: SyntheticResident) -> list[str]:
    return [person.first_th, person.last_th, person.first_en, person.last_en]


def with_replica(config):  # type: ignore[no-untyped-def]
    replica = ReplicaConfig(
        building=BUILDING, server_public_key=public_key_text(SERVER_SIGNING_KEY)
    )
    return msgspec.structs.replace(config, replica=replica)


def seed_resident(station: Station, person: SyntheticResident) -> None:
    """The resident in the station's replica, a queued petition of theirs, and a log line
    that breaks the no-personal-data rule (as a bug might)."""
    record = msgspec.structs.replace(insured_record(person.citizen_id), building=BUILDING)
    now = datetime.now(UTC)
    content = ReplicaContent(
        station_id=station.config.station_id,
        building=BUILDING,
        update_id=uuid.uuid4().hex,
        mode="full",
        cursor=1,
        as_of=now,
        part=1,
        parts=1,
        records=[record],
    )
    replica = ReplicaStore(station.store, load_key(station.config.store_key_path))
    with replica.atomic():
        count = replica.apply([content], full=True)
        replica.set_state(building=BUILDING, cursor=1, as_of=now.isoformat(), records=count)
    station.file_petition(
        "population_correction",
        PHONE,
        {"first_name": person.first_th, "last_name": person.last_th, "subject": "แก้ชื่อ"},
        citizen_id=person.citizen_id,
    )
    handler = attach_log_file(station.config.data_dir)
    try:
        logging.getLogger("device.kiosk").warning(
            "card %s read for %s (%s, %s %s), phone %s / %s-%s",
            person.citizen_id,
            person.full_name_th,
            person.full_name_en,
            person.first_en,
            person.last_en.upper(),
            PHONE,
            PHONE[:3],
            PHONE[3:],
        )
        logging.getLogger("device.sync").warning("an ordinary line with no one in it")
    finally:
        logging.getLogger().removeHandler(handler)
        handler.close()


def read_bundle(data: bytes) -> tuple[dict, str]:
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        assert sorted(archive.namelist()) == ["diagnostics.json", "log.txt"]
        return json.loads(archive.read("diagnostics.json")), archive.read("log.txt").decode()


def test_the_allowlist_lets_out_only_what_it_names():
    facts = {
        "station_id": "st-a",
        "config": {
            "station_id": "st-a",
            "secrets_dir": "/etc/dcs/bundle/secrets",
            "server_public_key": "A" * 44,
            "broker": {"host": "broker", "port": 8883, "password_file": "broker.password"},
            "replica": {"building": BUILDING, "key_file": "replica.key"},
            "sync": {"window": 64, "something_new": "x"},
        },
        "versions": {"dependencies": {"peewee": "3.17", "evil": {"nested": "no"}}},
        "an_unnamed_section": {"citizen_id": "1101700203451"},
        "outbox": {"pending": 2, "bodies": ["0812345678"]},
    }
    assert allowlisted(facts) == {
        "station_id": "st-a",
        "config": {
            "station_id": "st-a",
            "broker": {"host": "broker", "port": 8883},
            "replica": {"building": BUILDING},
            "sync": {"window": 64},
        },
        "versions": {"dependencies": {"peewee": "3.17", "evil": None}},
        "outbox": {"pending": 2},
    }
    assert set(ALLOWLIST["config"]) >= {"station_id", "broker", "sync"}


def test_the_redactor_masks_ids_phones_and_the_stores_names():
    person = next(residents(1))
    redact = Redactor([person.full_name_th, person.full_name_en])
    grouped = f"{person.citizen_id[0]}-{person.citizen_id[1:5]}-{person.citizen_id[5:10]}-"
    grouped += f"{person.citizen_id[10:12]}-{person.citizen_id[12]}"
    line = (
        f"{person.citizen_id} {grouped} {person.first_th} {person.prefix_th}{person.first_th} "
        f"{person.last_en.upper()} 0812345678 081-234-5678 +66812345678 backlog 12 after 3.5 s"
    )
    masked = redact(line)
    values = personal_values(person.citizen_id, "0812345678", names_of(person))
    assert privacy_findings(masked.encode(), values) == []
    assert masked.endswith("backlog 12 after 3.5 s")  # figures survive
    assert masked.count("[citizen-id]") == 2 and masked.count("[phone]") == 3
    assert redact.masked == 8


def test_collect_diagnostics_from_the_dashboard_reaches_the_server_redacted(
    tmp_path, broker, server_app, ingest, login_client
):
    with server_app.app_context():
        seed_records(3)
    person = next(residents(1))
    station = build_station(with_replica(station_config(tmp_path, broker)))
    try:
        with server_app.app_context():
            seed_resident(station, person)
        station.start()
        wait_until(lambda: station.sync.link.connected, "the station to connect")
        wait_until(lambda: station.store.outbox.backlog().pending == 0, "the petition to sync")

        client = login_client("operations")
        page = client.get("/dashboard/stations/st-a?lang=en")
        assert "Collect diagnostics" in page.text and "No diagnostics bundle yet" in page.text
        sent = client.post(
            "/dashboard/stations/st-a/commands",
            data={"csrf_token": csrf_token(page.text), "name": "collect_diagnostics"},
        )
        assert sent.status_code == 303
        bundle = wait_until(
            lambda: DiagnosticsBundle.get_or_none(DiagnosticsBundle.station_id == "st-a"),
            "the bundle on the server",
        )
        command = wait_until(
            lambda: (c := CommandRecord.get_by_id(bundle.command_id)).status == "done" and c,
            "the command's result",
        )
        assert command.detail.startswith(f"diagnostics sent: {bundle.size} bytes in ")

        page = client.get("/dashboard/stations/st-a?lang=th")
        assert "ข้อมูลวินิจฉัย" in page.text and bundle.command_id[:8] in page.text
        download = client.get(f"/dashboard/stations/st-a/diagnostics/{bundle.command_id}.zip")
        assert download.status_code == 200 and download.mimetype == "application/zip"
        assert "attachment" in download.headers["Content-Disposition"]
        data = download.data
        assert hashlib.sha256(data).hexdigest() == bundle.sha256
        assert AuditEvent.get(AuditEvent.action == "diagnostics.download").subject == "st-a"
    finally:
        station.close()

    values = personal_values(person.citizen_id, PHONE, names_of(person))
    assert privacy_findings(data, values) == []
    document, log_text = read_bundle(data)
    assert (
        document["station_id"] == "st-a" and document["made_by"] == f"command {bundle.command_id}"
    )
    assert document["versions"]["package"] and document["versions"]["python"]
    assert document["versions"]["dependencies"]["paho-mqtt"]
    assert document["config"]["broker"] == {"host": broker.host, "port": broker.port, "tls": True}
    assert "secrets_dir" not in document["config"] and "server_public_key" not in document["config"]
    assert document["outbox"]["pending"] == 0 and document["outbox"]["petition_serial"] == 1
    assert document["replica"]["records"] == 1 and document["replica"]["building"] == BUILDING
    assert document["sync"]["connected"] is True
    assert document["clock"]["server_offset_s"] is not None  # from the petition's ack
    assert document["disk"]["free_mib"] > 0
    assert document["selftest"]["checks"][0]["outcome"] == "skip"  # no devices in this test
    assert "[citizen-id]" in log_text and "[phone]" in log_text and "[name]" in log_text
    assert "an ordinary line with no one in it" in log_text
    assert document["log"]["masked"] >= 6


def test_dcs_station_diagnostics_writes_a_redacted_bundle_on_site(tmp_path, broker, sqlite_url):
    from sync_server import create_app

    app = create_app({"TESTING": True, "SECRET_KEY": "x" * 32, "DATABASE_URL": sqlite_url})
    person = next(residents(1))
    config = with_replica(station_config(tmp_path, broker))
    try:
        with app.app_context():
            seed_records(1)
            with build_station(config) as station:
                seed_resident(station, person)
    finally:
        database.close()
    toml = tmp_path / "station.toml"
    toml.write_text(
        f'station_id = "st-a"\ndata_dir = "{config.data_dir}"\n'
        f'secrets_dir = "{config.secrets_dir}"\n'
        f'[broker]\nhost = "{broker.host}"\nport = {broker.port}\n'
        f'[replica]\nbuilding = "{BUILDING}"\n'
        f'server_public_key = "{public_key_text(SERVER_SIGNING_KEY)}"\n'
    )
    out = tmp_path / "site.zip"
    done = subprocess.run(
        [str(Path(sys.executable).with_name("dcs-station")), "diagnostics",
         "--config", str(toml), "--out", str(out), "--lines", "50"],
        capture_output=True, text=True, timeout=120, env={**os.environ},
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"{out}: " in done.stdout and "self-test passed" in done.stdout
    assert out.stat().st_mode & 0o777 == 0o600
    values = personal_values(person.citizen_id, PHONE, names_of(person))
    assert privacy_findings(out.read_bytes(), values) == []
    assert privacy_findings(done.stdout.encode() + done.stderr.encode(), values) == []
    document, log_text = read_bundle(out.read_bytes())
    assert document["made_by"] == "on site"
    assert document["selftest"]["source"].startswith("self-test")
    assert document["outbox"]["pending"] == 1  # never synced: no broker contact on site
    assert document["replica"]["records"] == 1
    assert log_text.count("\n") == 2 and "[citizen-id]" in log_text
    assert person.citizen_id in log_path(config.data_dir).read_text()  # the seed did log it


def _part(command_id: str, data: bytes, *, station_id: str = "st-a", part: int = 1, parts: int = 1):  # type: ignore[no-untyped-def]
    return DiagnosticsPart(
        command_id=command_id,
        station_id=station_id,
        part=part,
        parts=parts,
        sha256=hashlib.sha256(data).hexdigest(),
        data=data[(part - 1) * DIAGNOSTICS_PART_BYTES : part * DIAGNOSTICS_PART_BYTES],
    )


def _command(name: str = "collect_diagnostics", station_id: str = "st-a", ttl_s: float = 60):  # type: ignore[no-untyped-def]
    now = utc_now()
    return CommandRecord.create(
        command_id=str(uuid.uuid4()),
        station_id=station_id,
        name=name,
        issued_by="ops",
        issued_at=now,
        expires_at=now + timedelta(seconds=ttl_s),
    )


def test_the_server_keeps_only_what_a_command_it_sent_asked_for(server_app):
    now = utc_now()
    data = os.urandom(DIAGNOSTICS_PART_BYTES + 10)  # two parts
    with server_app.app_context():
        unsolicited = _part(str(uuid.uuid4()), data, parts=2)
        with pytest.raises(DiagnosticsRefused, match="no collect_diagnostics command"):
            accept_part(unsolicited, "st-a", now)
        theirs = _command(station_id="st-b")
        with pytest.raises(DiagnosticsRefused, match="no collect_diagnostics command"):
            accept_part(_part(theirs.command_id, data, parts=2), "st-a", now)
        ping = _command(name="ping")
        with pytest.raises(DiagnosticsRefused, match="no collect_diagnostics command"):
            accept_part(_part(ping.command_id, data, parts=2), "st-a", now)
        with pytest.raises(DiagnosticsRefused, match="does not match the topic"):
            accept_part(_part(_command().command_id, data, station_id="st-b"), "st-a", now)
        late = _command(ttl_s=1)
        with pytest.raises(DiagnosticsRefused, match="time to live"):
            accept_part(_part(late.command_id, data, parts=2), "st-a", now + timedelta(hours=1))

        mine = _command()
        first = _part(mine.command_id, data, part=1, parts=2)
        assert accept_part(first, "st-a", now) == "stored"
        assert accept_part(first, "st-a", now) == "duplicate"  # QoS 1 redelivery
        other = _part(mine.command_id, os.urandom(50), part=2, parts=2)
        with pytest.raises(DiagnosticsRefused, match="does not match the parts"):
            accept_part(other, "st-a", now)
        assert accept_part(_part(mine.command_id, data, part=2, parts=2), "st-a", now) == (
            "complete"
        )
        assert bytes(DiagnosticsBundle.get_by_id(mine.command_id).content) == data
        # One bundle per command: a second one for it is refused.
        with pytest.raises(DiagnosticsRefused, match="received already"):
            accept_part(_part(mine.command_id, b"another bundle"), "st-a", now)

        corrupt = _command()
        bad = msgspec.structs.replace(_part(corrupt.command_id, b"abc"), sha256="0" * 64)
        with pytest.raises(DiagnosticsRefused, match="digest"):
            accept_part(bad, "st-a", now)
        assert (
            DiagnosticsBundle.get_or_none(DiagnosticsBundle.command_id == corrupt.command_id)
            is None
        )


def test_a_station_uploading_on_its_own_is_refused_and_recorded(
    tmp_path, broker, server_app, ingest, station_factory
):
    from contract import Channel, encode

    station = station_factory()
    wait_until(lambda: station.sync.link.connected, "the station to connect")
    forged = _part(str(uuid.uuid4()), b"x" * 100)
    station.sync.link.publish(Channel.DIAGNOSTICS, encode(forged))
    wait_until(lambda: RejectedMessage.select().count() == 1, "the refusal on record")
    refused = RejectedMessage.get()
    assert refused.topic.endswith("/st-a/diagnostics")
    assert "no collect_diagnostics command" in refused.reason
    assert DiagnosticsBundle.select().count() == 0
