"""End to end through a real Mosquitto: outbox -> ingest -> ack, lookups, presence."""

from __future__ import annotations

import dataclasses
import shutil
import threading

import pytest

from device.errors import LookupTimeoutError, ServerUnavailableError
from devtools.seed import seed_records
from devtools.synthetic import residents
from sync_server.fleet.models import Station
from sync_server.ingest import worker as worker_module
from sync_server.ingest.models import AppliedTransaction
from sync_server.petitions.models import Petition
from sync_server.records.models import InsuredPerson
from tests.api_tokens import bearer
from tests.helpers import wait_until
from tests.test_burst import PublishSpy, file_many

PHONE = "0812345678"


def test_petition_is_applied_once_acked_and_visible(server_app, ingest, station_factory):
    station = station_factory()
    number = station.file_petition("general_petition", PHONE, {"subject": "ไฟทางเดินดับ"})

    wait_until(lambda: station.store.outbox.backlog().pending == 0, "the outbox to drain")
    assert Petition.select().where(Petition.number == number).count() == 1
    response = server_app.test_client().get(f"/api/v1/petitions/{number}", headers=bearer())
    assert response.status_code == 200
    assert response.json == {
        "number": number,
        "service": "general_petition",
        "status": "received",
        "station_id": "st-a",
        "received_at": response.json["received_at"],
    }
    assert PHONE not in response.get_data(as_text=True)


def test_petition_filed_while_broker_down_is_delivered_when_it_returns(
    broker, server_app, ingest, station_factory
):
    station = station_factory()
    wait_until(lambda: station.sync.link.connected, "the station to connect")
    broker.stop()
    wait_until(lambda: not station.sync.link.connected, "the station to notice")

    numbers = [station.file_petition("general_petition", PHONE, {}) for _ in range(5)]
    assert station.store.outbox.backlog().pending == 5  # durable before anything else

    broker.start()
    wait_until(lambda: station.store.outbox.backlog().pending == 0, "the outbox to drain")
    assert sorted(p.number for p in Petition.select()) == sorted(numbers)
    assert AppliedTransaction.select().count() == 5


def test_many_transactions_drain_in_order_without_loss_or_duplicates(
    server_app, ingest, station_factory
):
    station = station_factory(window=64)
    numbers = [station.file_petition("general_petition", PHONE, {}) for _ in range(600)]
    wait_until(lambda: station.store.outbox.backlog().pending == 0, "the outbox to drain")
    assert Petition.select().count() == 600
    assert {p.number for p in Petition.select()} == set(numbers)
    seqs = [row.seq for row in AppliedTransaction.select().order_by(AppliedTransaction.received_at)]
    assert seqs == sorted(seqs)  # one station, one worker: applied in outbox order


def test_live_lookup_answers_from_server_records(server_app, ingest, station_factory):
    seed_records(5)
    person = next(residents(1))
    station = station_factory()
    wait_until(lambda: station.sync.link.connected, "the station to connect")

    response = station.sync.lookups.insured_summary(person.citizen_id)
    assert response.status == "ok"
    assert response.record.full_name_th == person.full_name_th
    assert response.record.contributions_count == person.contributions_count
    assert response.as_of == InsuredPerson.get_by_id(person.citizen_id).as_of

    missing = station.sync.lookups.insured_summary("0000000000001")
    assert missing.status == "not_found"
    assert missing.record is None


def test_lookup_times_out_cleanly_when_server_is_gone(broker, station_factory):
    station = station_factory(lookup_timeout_s=0.5)
    wait_until(lambda: station.sync.link.connected, "the station to connect")
    with pytest.raises(LookupTimeoutError):
        station.sync.lookups.insured_summary("0000000000001")


def test_lookup_offline_fails_at_once(broker, station_factory):
    broker.stop()
    station = station_factory()
    with pytest.raises(ServerUnavailableError):
        station.sync.lookups.insured_summary("0000000000001")


def test_presence_and_heartbeat_reach_the_server(broker, server_app, ingest, station_factory):
    station = station_factory()
    wait_until(
        lambda: (s := Station.get_or_none(Station.station_id == "st-a")) and s.presence == "online",
        "online presence",
    )
    station.file_petition("general_petition", PHONE, {})
    wait_until(lambda: Station.get_by_id("st-a").transactions_applied == 1, "the petition")
    wait_until(
        lambda: Station.get_by_id("st-a").last_heartbeat_at is not None, "a heartbeat on record"
    )
    station.close()  # a clean shutdown says offline itself
    wait_until(lambda: Station.get_by_id("st-a").presence == "offline", "offline presence")


def test_last_will_marks_a_vanished_station_offline(broker, server_app, ingest, station_factory):
    station = station_factory()
    wait_until(
        lambda: (s := Station.get_or_none(Station.station_id == "st-a")) and s.presence == "online",
        "online presence",
    )
    # Drop the TCP connection without a DISCONNECT, as a power cut would.
    station.sync.link._client.socket().close()
    wait_until(lambda: Station.get_by_id("st-a").presence == "offline", "the last will")


def test_heartbeat_reports_backlog(broker, station_factory):
    broker.stop()
    station = station_factory()
    station.file_petition("general_petition", PHONE, {})
    beat = station.sync.heartbeat()
    assert beat.backlog == 1
    assert beat.oldest_undelivered_age_s is not None
    assert beat.oldest_undelivered_age_s >= 0


def test_a_lookup_is_answered_while_the_ingest_is_stuck_behind_a_backlog(
    server_app, ingest, station_factory, monkeypatch
):
    """A resident at a kiosk never waits behind a fleet's backlog (bench/city.py: lookups
    queued in the worker's socket behind 2,000 transactions and timed out)."""
    seed_records(5)
    person = next(residents(1))
    release = threading.Event()
    real_apply = worker_module.apply_batch

    def stuck_apply(db, batch):
        release.wait(60)  # a database too slow for the backlog
        return real_apply(db, batch)

    monkeypatch.setattr(worker_module, "apply_batch", stuck_apply)
    backlog = 3_000  # one message each: more than the worker's queue of 2,000 messages
    station = station_factory(window=backlog + 100, batch=1)
    spy = PublishSpy(station.sync.link)
    monkeypatch.setattr(station.sync.link, "publish", spy)
    file_many(station, backlog)
    wait_until(lambda: spy.all_acked_by_broker(backlog), "the broker to hold the backlog")

    response = station.sync.lookups.insured_summary(person.citizen_id)
    assert response.status == "ok"
    assert response.record.full_name_th == person.full_name_th

    release.set()
    wait_until(lambda: station.store.outbox.backlog().pending == 0, "the backlog applied")
    assert AppliedTransaction.select().count() == backlog


def test_without_a_lookup_certificate_lookups_share_the_ingest_connection(broker, tmp_path, caplog):
    """A deployment upgraded in place before its broker configuration is re-issued has no
    ``dcs-lookup-1`` certificate: the worker still starts, and says what to run."""
    settings = broker.settings_for("dcs-ingest-1")
    certs = tmp_path / "certs"
    shutil.copytree(broker.workdir / "clients", certs)
    for name in ("dcs-lookup-1.crt.pem", "dcs-lookup-1.key.pem"):
        (certs / name).unlink()
    settings = dataclasses.replace(settings, cert_file=None, key_file=None, cert_dir=certs)
    worker = worker_module.IngestWorker(None, settings, worker_id="1")
    assert worker._lookup_connection is None and worker._shared_lookups
    assert "dcs-provision broker config" in caplog.text
    assert worker.connected.is_set() is False
    worker._main_up = True
    worker._update_connected()
    assert worker.connected.is_set()  # nothing else to wait for
    # Run without lookups (the server's units say so), it still answers them: the lookup
    # process cannot start without that certificate either.
    assert worker_module.IngestWorker(None, settings, worker_id="1", lookups=False)._shared_lookups
