"""The master records on SQLite and a real PostgreSQL: the seed, accounts, e-ID, petitions."""

from __future__ import annotations

import math
import re
from datetime import UTC, date, datetime
from decimal import Decimal

import pytest

from devtools.seed import seed_records
from devtools.synthetic import residents
from sync_server import create_app
from sync_server.db import database
from sync_server.ingest.apply import Received, apply_batch
from sync_server.petitions import service as petitions
from sync_server.petitions.models import Petition
from sync_server.records import accounts, passwords
from sync_server.records.changes import changed_since, latest_change_id
from sync_server.records.guardianships import is_guardian_of
from sync_server.records.models import (
    BenefitPayment,
    Contribution,
    Guardianship,
    IdentityAccount,
    InsuranceAccount,
    InsuredPerson,
    OldAgeSavings,
    PopulationRecord,
    RecordChange,
)
from sync_server.records.read import building_residents, insured_record, insured_records
from sync_server.records.updates import (
    RecordNotFoundError,
    move_resident,
    record_contribution,
    remove_insured,
    set_insured_status,
)
from tests.conftest import server_config
from tests.helpers import wait_until

AS_OF = date(2026, 11, 24)


@pytest.fixture
def app(database_url, broker):
    app = create_app(server_config(database_url, broker))
    yield app
    database.close()


def test_seed_details_add_up_to_each_summary(app):
    assert seed_records(40, as_of=AS_OF) == 40
    records = insured_records(p.citizen_id for p in InsuredPerson.select())
    assert len(records) == 40
    for record in records.values():
        s = record.summary
        assert sum(c.payments for c in record.contributions) == s.contributions_count
        assert sum(c.amount for c in record.contributions) == s.contributions_baht
        assert len(record.benefits) == s.benefits_count
        assert sum(b.amount for b in record.benefits) == s.benefits_baht
        assert sum(y.total for y in record.old_age_savings) == s.old_age_savings_baht
        assert record.hospital.entitled == (s.status != "resigned")
        if record.hospital.entitled:
            assert record.hospital.card_issued_on <= AS_OF < record.hospital.card_expires_on
        years = [c.year for c in record.contributions]
        assert years == sorted(years, reverse=True)
        assert record.as_of == AS_OF
        assert all(
            isinstance(c.amount, Decimal) and c.amount.as_tuple().exponent == -2
            for c in record.contributions
        )
    statuses = {r.summary.status for r in records.values()}
    assert statuses == {"section33", "section39", "resigned"}


def test_seed_accounts_population_and_guardians(app):
    seed_records(60, as_of=AS_OF)
    assert PopulationRecord.select().count() > 60  # adults and their children
    hashes = [a.password_hash for a in InsuranceAccount.select()]
    assert hashes and all(h.startswith("$argon2id$") for h in hashes)
    for account in InsuranceAccount.select():
        assert account.insurance_number == account.citizen_id
        assert len(account.phone) == 10 and account.phone.startswith("0")
        assert account.email is None or account.email.split("@")[1].startswith("example.")
    wards = list(IdentityAccount.select().where(IdentityAccount.guardian.is_null(False)))
    assert wards, "some children are registered under a guardian"
    for ward in wards:
        child = PopulationRecord.get_by_id(ward.citizen_id)
        assert accounts.age_on(child.date_of_birth, AS_OF) < accounts.GUARDIAN_AGE
        guardian = IdentityAccount.get_by_id(ward.guardian_citizen_id)
        assert PopulationRecord.get_by_id(guardian.citizen_id).building == child.building
        assert is_guardian_of(guardian.citizen_id, child.citizen_id)
    # Every synthetic child is linked to the resident it lives with, as a parent.
    children = PopulationRecord.select().where(PopulationRecord.prefix_en.in_(["Master", "Miss"]))
    links = {link.child_citizen_id: link for link in Guardianship.select()}
    assert links and set(links) <= {child.citizen_id for child in children}
    assert {link.relation for link in links.values()} == {"parent"}
    assert {a.level for a in IdentityAccount.select()} == {1, 2}


def test_seeding_again_adds_nothing_and_more_adds_the_rest(app):
    assert seed_records(30, as_of=AS_OF) == 30
    counts = (Contribution.select().count(), BenefitPayment.select().count())
    assert seed_records(30, as_of=AS_OF) == 0
    assert (Contribution.select().count(), BenefitPayment.select().count()) == counts
    assert seed_records(45, as_of=AS_OF) == 15
    assert InsuredPerson.select().count() == 45
    # Every resident is in the change log once per seeding, in their building.
    assert RecordChange.select().count() == 45
    assert latest_change_id() == 45


def test_record_updates_keep_the_summary_and_log_the_change(app):
    seed_records(12, as_of=AS_OF)
    person = next(residents(1))
    before = insured_record(person.citizen_id)
    cursor = latest_change_id()

    record_contribution(
        person.citizen_id,
        year=2026,
        payments=1,
        amount=Decimal("750.00"),
        savings=(Decimal("225.00"), Decimal("225.00"), Decimal("75.00")),
        as_of=date(2026, 12, 1),
    )
    after = insured_record(person.citizen_id)
    assert after.summary.contributions_count == before.summary.contributions_count + 1
    assert after.summary.contributions_baht == before.summary.contributions_baht + 750
    assert after.summary.old_age_savings_baht == before.summary.old_age_savings_baht + 525
    assert after.as_of == date(2026, 12, 1)
    assert changed_since(person.building, cursor, latest_change_id()) == [person.citizen_id]

    set_insured_status(person.citizen_id, "resigned", hospital="โรงพยาบาลกลาง")
    resigned = insured_record(person.citizen_id)
    assert resigned.summary.status == "resigned"
    assert not resigned.hospital.entitled and resigned.hospital.hospital is None

    cursor = latest_change_id()
    move_resident(person.citizen_id, "building-9")
    assert changed_since(person.building, cursor, latest_change_id()) == [person.citizen_id]
    assert changed_since("building-9", cursor, latest_change_id()) == [person.citizen_id]
    assert person.citizen_id in building_residents("building-9")

    remove_insured(person.citizen_id)
    assert insured_record(person.citizen_id) is None
    assert OldAgeSavings.select().where(OldAgeSavings.citizen == person.citizen_id).count() == 0
    with pytest.raises(RecordNotFoundError):
        remove_insured(person.citizen_id)


def test_password_reset_needs_the_registered_phone(app):
    seed_records(20, as_of=AS_OF)
    account = InsuranceAccount.get(InsuranceAccount.must_change_password == False)  # noqa: E712
    old_hash = account.password_hash
    wrong_phone = "0999999999" if account.phone != "0999999999" else "0888888888"

    assert accounts.reset_password(account.insurance_number, wrong_phone) is None
    assert accounts.reset_password("0000000000000", account.phone) is None
    assert InsuranceAccount.get_by_id(account.insurance_number).password_hash == old_hash

    password = accounts.reset_password(account.insurance_number, account.phone)
    # Grouped for reading, from the alphabet without look-alikes.
    assert re.fullmatch(r"[ACDEFHJKMNPRTUWXY34679]{3}(-[ACDEFHJKMNPRTUWXY34679]{3}){4}", password)
    stored = InsuranceAccount.get_by_id(account.insurance_number)
    assert stored.must_change_password
    assert stored.password_hash.startswith("$argon2id$") and password not in stored.password_hash
    assert accounts.check_password(account.insurance_number, password)
    # However the resident types the groups: without dashes, with spaces, in small letters.
    plain = password.replace("-", "")
    assert accounts.check_password(account.insurance_number, plain)
    assert accounts.check_password(account.insurance_number, password.replace("-", " ").lower())
    assert not accounts.check_password(account.insurance_number, plain[:-1])
    assert not accounts.change_password(account.insurance_number, "wrong", "N3w-passw0rd!")
    assert accounts.change_password(account.insurance_number, password, "N3w-passw0rd!")
    assert not InsuranceAccount.get_by_id(account.insurance_number).must_change_password
    assert accounts.check_password(account.insurance_number, "N3w-passw0rd!")
    # A password the resident chose is compared exactly: no dashes dropped, case kept.
    assert not accounts.check_password(account.insurance_number, "N3wpassw0rd!")
    assert not accounts.check_password(account.insurance_number, "n3w-passw0rd!")


def test_the_readable_password_carries_at_least_the_old_passwords_entropy():
    """Today's was 10 symbols from 57 (letters and digits without 0/O/1/l/I): 58.3 bits."""
    assert passwords.readable_entropy_bits() >= 10 * math.log2(57)
    for pairs in ("0O", "1lI", "5S", "2Z", "8B", "6G", "UV"):
        assert sum(c in passwords.READABLE_ALPHABET for c in pairs) <= 1, pairs
    assert not any(c.islower() for c in passwords.READABLE_ALPHABET)
    drawn = {passwords.readable_password() for _ in range(200)}
    assert len(drawn) == 200
    used = set("".join(drawn).replace("-", ""))
    assert used == set(passwords.READABLE_ALPHABET)  # 3000 draws reach all 22 symbols


def test_identity_level1_matches_the_register_and_minors_need_a_guardian(app):
    seed_records(80, as_of=AS_OF)
    registered = {a.citizen_id for a in IdentityAccount.select()}
    adult = next(
        p
        for p in PopulationRecord.select().where(
            PopulationRecord.birth_year < 2000, PopulationRecord.date_of_birth.is_null(False)
        )
        if p.citizen_id not in registered
    )
    declared = accounts.Declared(
        citizen_id=adult.citizen_id,
        first_th=adult.first_th,
        last_th=adult.last_th,
        date_of_birth=adult.date_of_birth,
        phone="0812345678",
    )
    wrong = accounts.Declared(**{**declared.__dict__, "last_th": "ไม่ตรง"})
    with pytest.raises(accounts.IdentityRegistrationError, match="data_mismatch"):
        accounts.register_identity_level1(wrong, today=AS_OF)
    with pytest.raises(accounts.IdentityRegistrationError, match="guardian_not_needed"):
        accounts.register_identity_level1(
            declared, guardian_citizen_id=adult.citizen_id, today=AS_OF
        )
    created = accounts.register_identity_level1(declared, today=AS_OF)
    assert created.level == 1 and created.guardian_citizen_id is None
    with pytest.raises(accounts.IdentityRegistrationError, match="already_registered"):
        accounts.register_identity_level1(declared, today=AS_OF)

    child = next(
        p
        for p in PopulationRecord.select().where(PopulationRecord.prefix_en == "Master")
        if p.citizen_id not in registered
    )
    as_child = accounts.Declared(
        child.citizen_id, child.first_th, child.last_th, child.date_of_birth, "0812345678"
    )
    with pytest.raises(accounts.IdentityRegistrationError, match="guardian_required"):
        accounts.register_identity_level1(as_child, today=AS_OF)
    with pytest.raises(accounts.IdentityRegistrationError, match="not_guardian"):
        accounts.register_identity_level1(
            as_child, guardian_citizen_id=adult.citizen_id, today=AS_OF
        )
    Guardianship.create(child=child.citizen_id, guardian=adult.citizen_id, relation="guardian")
    ward = accounts.register_identity_level1(
        as_child, guardian_citizen_id=adult.citizen_id, today=AS_OF
    )
    assert ward.guardian_citizen_id == adult.citizen_id
    assert [w.citizen_id for w in IdentityAccount.get_by_id(adult.citizen_id).wards] == [
        child.citizen_id
    ]


def filed(number: str) -> Received:
    from contract import Transaction
    from device.store.ids import new_tx_id

    tx = Transaction(
        tx_id=new_tx_id(),
        station_id="st-a",
        seq=1,
        kind="petition.filed",
        station_time=datetime(2026, 11, 24, 9, tzinfo=UTC),
        body={"number": number, "service": "general_petition", "phone": "0812345678"},
    )
    return Received(tx=tx, received_at=datetime.now(UTC))


def test_petition_status_history_and_assignment(app):
    from device.store.ids import petition_number

    number = petition_number("st-a", 1)
    apply_batch(database.obj, [filed(number)])
    petitions.assign(number, "officer-somchai", assigned_by="admin")
    petitions.assign(number, "officer-malee", assigned_by="admin")
    petitions.change_status(number, "in_review", actor="officer-malee", comment="c")
    petitions.change_status(
        number, "waiting_for_citizen", actor="officer-malee", comment="ขอสำเนาทะเบียนบ้าน"
    )
    with pytest.raises(petitions.PetitionError):
        petitions.change_status(number, "closed", actor="officer-malee", comment="c")
    petitions.change_status(number, "in_review", actor="officer-malee", comment="c")
    petitions.change_status(number, "approved", actor="officer-malee", comment="done")

    steps = petitions.history(number)
    assert [s.status for s in steps] == [
        "received",
        "in_review",
        "waiting_for_citizen",
        "in_review",
        "approved",
    ]
    assert steps[0].actor == "station:st-a"
    assert steps[2].comment == "ขอสำเนาทะเบียนบ้าน"
    assert Petition.get_by_id(number).status == "approved"
    from sync_server.petitions.models import PetitionAssignment

    assert PetitionAssignment.get_by_id(number).assignee == "officer-malee"
    with pytest.raises(petitions.PetitionError):
        petitions.history("P-ST-A-9999999-X")


def test_live_lookup_of_the_whole_record(server_app, ingest, station_factory):
    seed_records(8, as_of=AS_OF)
    person = next(residents(1))
    station = station_factory()
    wait_until(lambda: station.sync.link.connected, "the station to connect")

    response = station.sync.lookups.insured_record(person.citizen_id)
    assert response.status == "ok"
    assert response.full_record == insured_record(person.citizen_id)
    assert response.record == response.full_record.summary
    assert response.as_of == AS_OF
    assert station.sync.lookups.insured_record("0000000000001").status == "not_found"
