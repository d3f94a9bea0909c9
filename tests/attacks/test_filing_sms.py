"""A stolen station cannot turn petition filing into an SMS cannon.

Every ``petition.filed`` the ingest applies queues seed 004's SMS to the phone number the
station sent. A thief with a station's certificate could file petitions naming any numbers;
the ``sms.filing`` budget (60 an hour, 300 a day per station) bounds the texts: past it the
petitions are still filed but their SMS is withheld, audited, and a ``budget`` alarm opens.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from contract import Transaction
from device.store.ids import new_tx_id, petition_number
from sync_server.audit.models import AuditEvent
from sync_server.budgets.policy import FILING_SMS, BudgetPolicy
from sync_server.dashboard.models import Alarm
from sync_server.db import bind, database
from sync_server.ingest.apply import Received, apply_batch
from sync_server.petitions.models import Petition
from sync_server.sms.models import SmsOutbox

STOLEN = "st-stolen"
START = datetime(2026, 12, 6, 9, tzinfo=UTC)
PER_HOUR = next(
    limit.max_hits
    for limit in BudgetPolicy().limits(FILING_SMS)
    if limit.window == timedelta(hours=1)
)


@pytest.fixture
def db(database_url: str) -> Iterator[None]:
    bind(database_url)
    database.connect(reuse_if_open=True)
    yield
    database.close()


def filings(station_id: str, first: int, count: int, at: datetime) -> list[Received]:
    """``count`` petitions from ``station_id``, each texting a different number."""
    batch = []
    for serial in range(first, first + count):
        body = {
            "number": petition_number(station_id, serial),
            "service": "general_petition",
            "phone": f"08{serial:08d}",
            "form": {"subject": "ไฟทางเดินดับ"},
        }
        tx = Transaction(
            tx_id=new_tx_id(),
            station_id=station_id,
            seq=serial,
            kind="petition.filed",
            station_time=at,
            body=body,
        )
        batch.append(Received(tx=tx, received_at=at + timedelta(milliseconds=serial)))
    return batch


def texts_from(station_id: str) -> int:
    numbers = [row.number for row in Petition.select().where(Petition.station_id == station_id)]
    keys = [f"petition.filed:{number}" for number in numbers]
    return SmsOutbox.select().where(SmsOutbox.dedupe_key.in_(keys)).count()


def test_a_flood_of_filings_texts_only_within_the_budget(db):
    acks, rejected = apply_batch(database.obj, filings(STOLEN, 1, PER_HOUR + 15, START))

    assert not rejected
    assert [item.outcome for item in acks[STOLEN]] == ["applied"] * (PER_HOUR + 15)
    assert Petition.select().where(Petition.station_id == STOLEN).count() == PER_HOUR + 15
    assert texts_from(STOLEN) == PER_HOUR
    withheld = AuditEvent.select().where(AuditEvent.action == f"budget.{FILING_SMS}")
    assert withheld.count() == 15
    assert {event.outcome for event in withheld} == {"sms_withheld"}
    (alarm,) = Alarm.select().where(Alarm.station_id == STOLEN)
    assert (alarm.rule, alarm.severity) == ("budget", "warning")
    assert "15 petition SMS withheld" in alarm.message

    # Ten minutes later the hour is still spent: more filings, no more texts.
    later = START + timedelta(minutes=10)
    apply_batch(database.obj, filings(STOLEN, 500, 5, later))
    assert texts_from(STOLEN) == PER_HOUR


def test_the_budget_is_per_station_and_counts_only_the_window(db):
    apply_batch(database.obj, filings(STOLEN, 1, PER_HOUR, START))
    assert texts_from(STOLEN) == PER_HOUR

    honest = filings("st-honest", 1, 3, START + timedelta(minutes=1))
    apply_batch(database.obj, honest)
    assert texts_from("st-honest") == 3

    # Once the hour has passed the stolen station's filings text again (the day budget holds).
    apply_batch(database.obj, filings(STOLEN, 900, 2, START + timedelta(hours=1, minutes=1)))
    assert texts_from(STOLEN) == PER_HOUR + 2
    assert not Alarm.select().where(Alarm.station_id == "st-honest").exists()


def test_the_one_by_one_path_keeps_the_budget(db):
    """A batch with a taken number falls back to applying each transaction on its own."""
    apply_batch(database.obj, filings(STOLEN, 1, PER_HOUR - 2, START))
    batch = filings(STOLEN, PER_HOUR - 2, 5, START + timedelta(minutes=2))  # the first is taken
    acks, rejected = apply_batch(database.obj, batch)

    assert [item.outcome for item in acks[STOLEN]] == ["rejected"] + ["applied"] * 4
    assert len(rejected) == 1
    assert texts_from(STOLEN) == PER_HOUR
    assert AuditEvent.select().where(AuditEvent.action == f"budget.{FILING_SMS}").count() == 2


def test_many_stations_in_one_batch_are_each_held_to_their_own_budget(db):
    """The budget is counted for all the batch's stations at once (in statements of a
    hundred): each is judged on its own petitions, whatever else the batch holds."""
    honest = [f"st-honest-{index:03d}" for index in range(130)]
    # Earlier in the hour: the stolen ones have spent most of their budget.
    stolen = [f"st-stolen-{index}" for index in range(3)]
    earlier = [tx for station in stolen for tx in filings(station, 1, PER_HOUR - 1, START)]
    apply_batch(database.obj, earlier)
    later = START + timedelta(minutes=5)
    batch = [tx for station in honest for tx in filings(station, 1, 2, later)]
    batch += [tx for station in stolen for tx in filings(station, PER_HOUR, 4, later)]
    acks, rejected = apply_batch(database.obj, batch)

    assert not rejected
    assert {item.outcome for items in acks.values() for item in items} == {"applied"}
    assert all(texts_from(station) == 2 for station in honest)
    assert all(texts_from(station) == PER_HOUR for station in stolen)
    withheld = AuditEvent.select().where(AuditEvent.action == f"budget.{FILING_SMS}")
    assert sorted((event.actor, event.subject) for event in withheld) == sorted(
        (f"station:{station}", tx.tx.body["number"])
        for station in stolen
        for tx in filings(station, PER_HOUR + 1, 3, later)
    )
    assert {alarm.station_id for alarm in Alarm.select()} == set(stolen)
