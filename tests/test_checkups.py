"""Check-ups with telemedicine (seed 002) on the server: the clinic adapter over HTTP against
the simulated clinic, bookings held by the database's unique columns, the SMS in local time.

The kiosk side, in Chromium with the real card, is tests/test_kiosk_checkups_notices.py.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import peewee
import pytest

from contract import ServiceRequest
from devtools.clinic import SimulatedClinic
from devtools.seed import seed_records
from devtools.synthetic import residents
from sync_server import create_app
from sync_server.audit.models import AuditEvent
from sync_server.checkups.adapter import ClinicUnavailableError
from sync_server.checkups.http import HttpClinic
from sync_server.checkups.models import CheckupBooking
from sync_server.checkups.service import CheckupRefusedError, CheckupService
from sync_server.db import database, write_transaction
from sync_server.kiosk_services.handlers import KioskServices
from sync_server.migrations import upgrade_url
from sync_server.records.models import IdentityAccount, InsuranceAccount
from sync_server.sms.models import SentSms
from sync_server.sms.outbox import Outbox
from sync_server.sms.sink import SinkGateway

STATION = "st-a"
TODAY = date(2026, 12, 6)


@pytest.fixture
def clinic() -> Iterator[SimulatedClinic]:
    clinic = SimulatedClinic(token="t0ken", today=TODAY).start()
    yield clinic
    clinic.stop()


@pytest.fixture
def app(tmp_path: Path, clinic: SimulatedClinic):
    app = create_app(
        {
            "TESTING": True,
            "SECRET_KEY": "test-only-secret",
            "DATABASE_URL": upgrade_url(f"sqlite:///{tmp_path / 'server.sqlite3'}"),
            "CLINIC_URL": clinic.url,
            "CLINIC_TOKEN": "t0ken",
            "CLINIC_NAME": "clinic-a",
        }
    )
    with app.app_context():
        database.connect(reuse_if_open=True)
        seed_records(8)
        yield app
    database.close()


def now() -> datetime:
    """The server's clock in these tests: the morning of the clinic's "today" (UTC)."""
    return datetime(2026, 12, 6, 2, 0, tzinfo=UTC)


def card_read(citizen_id: str, station: str = STATION) -> None:
    """What a kiosk does when a card goes in: a live lookup, audited (at the tests' clock)."""
    with write_transaction():
        AuditEvent.create(
            at=now(),
            actor=f"station:{station}",
            action="lookup.insured_record",
            subject=citizen_id,
            outcome="found",
        )


@pytest.fixture
def service(app) -> CheckupService:
    outbox = Outbox(SinkGateway(), app.config)
    svc = CheckupService.from_config(app.config, outbox)
    svc._clock = now
    return svc


def holder(index: int = 0) -> str:
    return list(residents(index + 1))[index].citizen_id


def texts_to(phone: str) -> list[str]:
    return [row.text for row in SentSms.select().where(SentSms.to == phone).order_by(SentSms.id)]


def test_the_http_adapter_lists_books_and_cancels_at_the_simulated_clinic(clinic):
    adapter = HttpClinic("clinic-a", clinic.url, "t0ken")
    free = adapter.free_slots(now(), now() + timedelta(days=14))
    assert len(free) == 7 * 6 and free[0].starts_at.utcoffset() == timedelta(hours=7)
    booking = adapter.book(free[0].slot_id, "p-1")
    assert booking.video_url.startswith("https://") and free[0].slot_id in clinic.taken()
    adapter.cancel(booking.clinic_ref)
    adapter.cancel(booking.clinic_ref)  # already gone: not an error
    assert clinic.taken() == set()
    with pytest.raises(ClinicUnavailableError):
        HttpClinic("clinic-a", clinic.url, "wrong").free_slots(now(), now() + timedelta(days=1))


def test_booking_sends_the_local_time_and_the_video_link_and_cancelling_says_cancelled(
    service, clinic
):
    citizen = holder(0)
    phone = InsuranceAccount.get(InsuranceAccount.citizen == citizen).phone
    card_read(citizen)
    slots = service.slots(STATION, citizen)
    first = slots[0]
    assert first.slot == "clinic-a:20261207T0900" and first.starts_at.hour == 9

    booking = service.book(STATION, citizen, first.slot, "en")
    assert booking.state == "booked" and booking.phone_masked == f"{phone[:3]}-XXX-{phone[-4:]}"
    assert clinic.taken() == {"20261207T0900"}
    [booked] = texts_to(phone)
    # 09:00 in Bangkok, as the resident lives it; the link the clinic gave.
    assert "07-12-2569 BE 09:00" in booked and booking.video_url in booked and booking.ref in booked
    assert first.slot not in {s.slot for s in service.slots(STATION, citizen)}
    assert [b.ref for b in service.mine(STATION, citizen)] == [booking.ref]

    cancelled = service.cancel(STATION, citizen, booking.ref)
    assert cancelled.state == "cancelled" and clinic.taken() == set()
    assert "cancelled" in texts_to(phone)[1] and "07-12-2569 BE 09:00" in texts_to(phone)[1]
    assert service.mine(STATION, citizen) == []
    assert first.slot in {s.slot for s in service.slots(STATION, citizen)}


def test_thai_sms_are_in_thai_with_the_buddhist_year(service):
    citizen = holder(1)
    card_read(citizen)
    slot = service.slots(STATION, citizen)[1]
    service.book(STATION, citizen, slot.slot, "th")
    phone = InsuranceAccount.get(InsuranceAccount.citizen == citizen).phone
    assert "07-12-2569 09:30" in texts_to(phone)[0] and "นัด" in texts_to(phone)[0]


def test_a_slot_cannot_be_booked_twice_even_by_racing_workers(service, clinic):
    a, b = holder(0), holder(1)
    card_read(a)
    card_read(b)
    slot = service.slots(STATION, a)[0].slot
    outcomes: list[str] = []
    barrier = threading.Barrier(2)

    def book(citizen: str) -> None:
        with database.connection_context():
            barrier.wait()
            try:
                service.book(STATION, citizen, slot, "en")
                outcomes.append("booked")
            except CheckupRefusedError as exc:
                outcomes.append(exc.reason)

    threads = [threading.Thread(target=book, args=(c,)) for c in (a, b)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcomes) == ["booked", "slot_taken"]
    assert CheckupBooking.select().where(CheckupBooking.active_slot == slot).count() == 1


def test_the_database_itself_refuses_a_second_holder_of_a_slot(service):
    citizen = holder(0)
    card_read(citizen)
    slot = service.slots(STATION, citizen)[0].slot
    booking = service.book(STATION, citizen, slot, "en")
    row = CheckupBooking.get(CheckupBooking.ref == booking.ref)
    with pytest.raises(peewee.IntegrityError), database.atomic():
        CheckupBooking.create(
            **{
                **row.__data__,
                "id": None,
                "ref": "ABCDEF01",
                "citizen_id": holder(2),
                "active_citizen": holder(2),
            }
        )


def test_one_booking_at_a_time_per_resident(service):
    citizen = holder(0)
    card_read(citizen)
    first, second = service.slots(STATION, citizen)[:2]
    service.book(STATION, citizen, first.slot, "en")
    with pytest.raises(CheckupRefusedError) as refused:
        service.book(STATION, citizen, second.slot, "en")
    assert refused.value.reason == "already_booked"


def test_a_station_books_only_for_the_card_it_just_read(service):
    citizen = holder(0)
    with pytest.raises(CheckupRefusedError) as refused:
        service.slots(STATION, citizen)
    assert refused.value.reason == "not_card_holder"
    card_read(citizen, station="st-b")  # read at another station: not this one's holder
    with pytest.raises(CheckupRefusedError):
        service.book(STATION, citizen, "clinic-a:20261207T0900", "en")
    card_read(citizen)
    assert service.slots(STATION, citizen)
    # ...and not for long: a quarter of an hour after the card was read, no more.
    later = now() + timedelta(minutes=16)
    service._clock = lambda: later
    with pytest.raises(CheckupRefusedError):
        service.slots(STATION, citizen)


def test_no_phone_on_file_no_booking(service):
    citizen = holder(0)
    InsuranceAccount.delete().where(InsuranceAccount.citizen == citizen).execute()
    IdentityAccount.delete().where(IdentityAccount.citizen == citizen).execute()
    card_read(citizen)
    slot = service.slots(STATION, citizen)[0].slot
    with pytest.raises(CheckupRefusedError) as refused:
        service.book(STATION, citizen, slot, "en")
    assert refused.value.reason == "no_phone"
    assert CheckupBooking.select().count() == 0


def test_a_clinic_that_is_down_releases_the_reservation(service, clinic):
    citizen = holder(0)
    card_read(citizen)
    slot = service.slots(STATION, citizen)[0].slot
    clinic.stop()
    with pytest.raises(ClinicUnavailableError):
        service.book(STATION, citizen, slot, "en")
    assert CheckupBooking.select().count() == 0


def test_kiosk_service_actions_are_charged_and_answered(app, service):
    services = KioskServices.from_config(app.config)
    services.checkups._clock = now
    citizen = holder(0)
    card_read(citizen)
    answer = services.handle(
        STATION, ServiceRequest(station_id=STATION, action="checkup.slots", citizen_id=citizen)
    )
    assert answer.status == "ok" and answer.slots
    answer = services.handle(
        STATION,
        ServiceRequest(
            station_id=STATION,
            action="checkup.book",
            citizen_id=citizen,
            slot=answer.slots[0].slot,
            language="vi",
        ),
    )
    assert answer.status == "ok" and answer.bookings[0].state == "booked"
    refused = services.handle(
        STATION,
        ServiceRequest(
            station_id=STATION, action="checkup.cancel", citizen_id=holder(3), booking="ABCDEF01"
        ),
    )
    assert (refused.status, refused.reason) == ("refused", "not_card_holder")
    # Every action is charged to a budget of its own.
    from sync_server.budgets.policy import BudgetPolicy, service_kind

    for action in ("checkup.slots", "checkup.book", "checkup.cancel", "checkup.mine"):
        assert service_kind(action) in BudgetPolicy().budgets


@pytest.mark.parametrize("name", ["City Health Clinic", "clinic_a", "-clinic", "x" * 33])
def test_a_clinic_name_that_cannot_prefix_a_slot_id_is_refused_at_start(name):
    from sync_server.config import ServerConfigError

    config = {"CLINIC_URL": "http://127.0.0.1:9", "CLINIC_NAME": name, "SECRET_KEY": "k" * 40}
    with pytest.raises(ServerConfigError, match="CLINIC_NAME"):
        CheckupService.from_config(config, outbox=None)  # type: ignore[arg-type]
