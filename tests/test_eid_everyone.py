"""Seed 001's e-ID for everyone it names, on the server: a person without legal capacity
registered through their guardian (the register's link), and a foreigner matched on passport
number and nationality. Through the kiosk-services handler, with codes from the SMS sink."""

from __future__ import annotations

import re
from datetime import date

import pytest

from contract import DeclaredIdentity, ServiceRequest, ServiceResponse
from devtools.eid_people import FOREIGN_NATIONALITY, FOREIGN_PASSPORT, EidPeople, seed_eid_people
from devtools.seed import seed_records
from sync_server.kiosk_services.handlers import KioskServices
from sync_server.otp import service_from_config
from sync_server.records.accounts import (
    Declared,
    IdentityRegistrationError,
    register_identity_level1,
    wards_without_account,
)
from sync_server.records.models import IdentityAccount, PopulationRecord
from sync_server.sms import SinkGateway
from sync_server.sms.models import SentSms
from sync_server.tracking.service import TrackingLimits

COUNT = 12
PHONE = "0891112233"


@pytest.fixture
def people(server_app) -> EidPeople:
    seed_records(COUNT)
    return seed_eid_people(COUNT)


@pytest.fixture
def services(server_app) -> KioskServices:
    otp = service_from_config(server_app.config, SinkGateway())
    return KioskServices(otp, TrackingLimits.from_config(server_app.config))


def _register(
    services: KioskServices, card_holder: str, declared: DeclaredIdentity, guardian: bool
) -> ServiceResponse:
    start = ServiceRequest(
        station_id="st-a",
        action="eid.start",
        citizen_id=card_holder,
        phone=PHONE,
        guardian=guardian,
    )
    started = services.handle("st-a", start)
    assert started.status == "ok", started
    sms = SentSms.select().where(SentSms.to == PHONE).order_by(SentSms.id.desc()).get()
    return services.handle(
        "st-a",
        ServiceRequest(
            station_id="st-a",
            action="eid.register",
            citizen_id=card_holder,
            phone=PHONE,
            ticket=started.ticket,
            code=re.search(r"\b(\d{6})\b", sms.text).group(1),
            declared=declared,
            guardian=guardian,
            password="Ward-Kiosk-2026",
        ),
    )


def _declared(person: PopulationRecord, **extra: str) -> DeclaredIdentity:
    return DeclaredIdentity(
        citizen_id=person.citizen_id,
        first_th=person.first_th,
        last_th=person.last_th,
        date_of_birth=person.date_of_birth,
        **extra,
    )


def test_the_register_carries_passport_nationality_and_legal_capacity(people):
    foreigner = PopulationRecord.get_by_id(people.foreigner.citizen_id)
    ward = PopulationRecord.get_by_id(people.ward.citizen_id)
    assert (foreigner.nationality, foreigner.passport_number) == ("VN", FOREIGN_PASSPORT)
    assert foreigner.legal_capacity
    assert (ward.nationality, ward.passport_number, ward.legal_capacity) == ("TH", None, False)
    assert PopulationRecord.get_by_id(people.guardian_citizen_id).nationality == "TH"


def test_the_guardian_lists_the_adult_ward_and_registers_them(people, services):
    guardian = people.guardian_citizen_id
    listed = services.handle(
        "st-a", ServiceRequest(station_id="st-a", action="eid.wards", citizen_id=guardian)
    )
    assert listed.status == "ok"
    ward = next(w for w in listed.wards if w.citizen_id == people.ward.citizen_id)
    assert (ward.why, ward.relation, ward.first_th) == ("no_legal_capacity", "guardian", "วิชัย")
    # The ward is 38: an adult, yet registered only through the guardian.
    person = PopulationRecord.get_by_id(ward.citizen_id)
    alone = Declared(ward.citizen_id, person.first_th, person.last_th, person.date_of_birth, PHONE)
    with pytest.raises(IdentityRegistrationError) as refused:
        register_identity_level1(alone)
    assert refused.value.reason == "guardian_required"

    answer = _register(services, guardian, _declared(person), guardian=True)

    assert (answer.status, answer.level) == ("ok", 1)
    assert IdentityAccount.get_by_id(ward.citizen_id).guardian_citizen_id == guardian
    # Registered: no longer offered.
    assert people.ward.citizen_id not in {p.citizen_id for p, _ in wards_without_account(guardian)}


def test_someone_without_an_account_has_no_wards_to_list(people, services):
    holder = next(
        r.citizen_id
        for r in PopulationRecord.select()
        if IdentityAccount.get_or_none(IdentityAccount.citizen == r.citizen_id) is None
    )
    answer = services.handle(
        "st-a", ServiceRequest(station_id="st-a", action="eid.wards", citizen_id=holder)
    )
    assert (answer.status, answer.reason, answer.wards) == (
        "refused",
        "guardian_not_registered",
        [],
    )


@pytest.mark.parametrize(
    ("extra", "reason"),
    [
        ({}, "passport_required"),
        ({"passport_number": "C7040513", "nationality": "VN"}, "data_mismatch"),
        ({"passport_number": FOREIGN_PASSPORT, "nationality": "LA"}, "data_mismatch"),
    ],
)
def test_a_foreigner_must_declare_the_passport_the_register_holds(people, services, extra, reason):
    person = PopulationRecord.get_by_id(people.foreigner.citizen_id)
    answer = _register(services, person.citizen_id, _declared(person, **extra), guardian=False)
    assert (answer.status, answer.reason) == ("refused", reason)
    assert IdentityAccount.get_or_none(IdentityAccount.citizen == person.citizen_id) is None


def test_a_foreigner_with_the_right_passport_gets_level_1(people, services):
    person = PopulationRecord.get_by_id(people.foreigner.citizen_id)
    declared = _declared(person, passport_number=FOREIGN_PASSPORT, nationality=FOREIGN_NATIONALITY)
    answer = _register(services, person.citizen_id, declared, guardian=False)
    assert (answer.status, answer.level) == ("ok", 1)


def test_a_thai_national_declaring_a_passport_does_not_match(people):
    person = PopulationRecord.get_by_id(people.guardian_citizen_id)
    declared = Declared(
        person.citizen_id,
        person.first_th,
        person.last_th,
        person.date_of_birth,
        PHONE,
        passport_number=FOREIGN_PASSPORT,
        nationality="VN",
    )
    with pytest.raises(IdentityRegistrationError) as refused:
        register_identity_level1(declared, today=date(2026, 12, 1))
    assert refused.value.reason == "data_mismatch"
