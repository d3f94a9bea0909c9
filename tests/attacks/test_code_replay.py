"""Attacker: a forged kiosk client holding their own account and phone. They ask for a code
for themselves, then present that ticket and code for somebody else (another e-account,
another e-ID registration, another petition's history) to take it over or read it."""

from __future__ import annotations

from datetime import date

from contract import DeclaredIdentity
from sync_server.kiosk_services.handlers import KioskServices
from sync_server.kiosk_services.models import IdentityCredential
from sync_server.records.accounts import check_password
from sync_server.records.models import IdentityAccount, InsuranceAccount, PopulationRecord
from tests.attacks.conftest import ask, sms_code
from tests.petition_fixtures import file_petitions

ATTACKER_PHONE = "0899990001"
VICTIM_PHONE = "0812345678"


def two_accounts() -> tuple[InsuranceAccount, InsuranceAccount]:
    first, second = InsuranceAccount.select().order_by(InsuranceAccount.insurance_number)[:2]
    return first, second


def reset_fields(account: InsuranceAccount) -> dict[str, str]:
    return {
        "citizen_id": account.citizen_id,
        "insurance_number": account.insurance_number,
        "phone": account.phone,
    }


def test_a_reset_code_for_ones_own_account_does_not_reset_the_victims(
    services: KioskServices,
) -> None:
    attacker, victim = two_accounts()
    victim_hash = victim.password_hash
    started = ask(services, "password.start", **reset_fields(attacker))
    assert started.status == "ok"
    code = sms_code(attacker.phone)

    answer = ask(
        services, "password.reset", **reset_fields(victim), ticket=started.ticket, code=code
    )

    assert answer.status == "wrong_code"
    assert answer.temporary_password is None
    assert InsuranceAccount.get_by_id(victim.insurance_number).password_hash == victim_hash
    # The attacker's own reset still works with the same ticket: the binding is exact.
    own = ask(
        services, "password.reset", **reset_fields(attacker), ticket=started.ticket, code=code
    )
    assert own.status == "ok" and check_password(attacker.insurance_number, own.temporary_password)


def test_an_eid_code_sent_for_one_card_does_not_register_another(
    services: KioskServices,
) -> None:
    registered = {account.citizen_id for account in IdentityAccount.select()}
    attacker_card, victim = (
        PopulationRecord.select()
        .where(PopulationRecord.citizen_id.not_in(registered))
        .order_by(PopulationRecord.citizen_id)[:2]
    )
    started = ask(services, "eid.start", citizen_id=attacker_card.citizen_id, phone=ATTACKER_PHONE)
    assert started.status == "ok"
    declared = DeclaredIdentity(
        citizen_id=victim.citizen_id,
        first_th=victim.first_th,
        last_th=victim.last_th,
        date_of_birth=victim.date_of_birth or date(victim.birth_year, 1, 1),
    )

    answer = ask(
        services,
        "eid.register",
        citizen_id=victim.citizen_id,
        phone=ATTACKER_PHONE,
        ticket=started.ticket,
        code=sms_code(ATTACKER_PHONE),
        declared=declared,
        password="Attacker-chosen-1",
    )

    assert answer.status == "wrong_code"
    assert IdentityAccount.get_or_none(IdentityAccount.citizen == victim.citizen_id) is None
    assert (
        IdentityCredential.get_or_none(IdentityCredential.citizen_id == victim.citizen_id) is None
    )


def test_a_tracking_code_for_ones_own_petition_does_not_open_anothers(
    services: KioskServices,
) -> None:
    (victims,) = file_petitions("st-a", 1, phone=VICTIM_PHONE)
    (own,) = file_petitions("st-b", 1, phone=ATTACKER_PHONE)
    started = ask(services, "track.start", number=own, phone=ATTACKER_PHONE)
    code = sms_code(ATTACKER_PHONE)

    answer = ask(
        services,
        "track.check",
        number=victims,
        phone=ATTACKER_PHONE,
        ticket=started.ticket,
        code=code,
    )

    assert answer.status == "wrong_code"
    assert answer.petitions == []
