"""Attacker: an adult with an e-ID account of their own who registers an e-ID account for a
child that is not theirs, at a kiosk, with their own card in the reader.

Everything the kiosk asks about the child (id, Thai names, date of birth) is printed on the
child's card or known to a neighbour, so matching it against the register proves nothing
about who is asking. Seed 001 says a child under 14 is registered through a *parent's or
guardian's* account: the population register's guardian links (``guardianship``) decide,
and a residents file cannot bring in a link to someone neither it nor the register knows.
"""

from __future__ import annotations

import random
import re

import msgspec
import pytest

from contract import DeclaredIdentity, ServiceRequest, ServiceResponse
from devtools.residents import synthetic_residents
from devtools.seed import seed_records
from devtools.synthetic import synthetic_citizen_id
from sync_server.audit import AuditEvent
from sync_server.kiosk_services.handlers import KioskServices
from sync_server.otp import service_from_config
from sync_server.records.models import Guardianship, IdentityAccount, PopulationRecord
from sync_server.records.residents_file import (
    GuardianLink,
    LineProblem,
    ResidentsFileError,
    encode_line,
)
from sync_server.records.residents_import import import_residents
from sync_server.sms import SinkGateway
from sync_server.sms.models import SentSms
from sync_server.tracking.service import TrackingLimits

PHONE = "0897654321"


@pytest.fixture
def services(server_app) -> KioskServices:
    otp = service_from_config(server_app.config, SinkGateway())
    return KioskServices(otp, TrackingLimits.from_config(server_app.config))


def _unregistered_child_and_parent() -> tuple[PopulationRecord, str]:
    """A child without an e-ID account whose linked parent has one."""
    registered = {a.citizen_id for a in IdentityAccount.select()}
    for link in Guardianship.select():
        if link.guardian_citizen_id in registered and link.child_citizen_id not in registered:
            return PopulationRecord.get_by_id(link.child_citizen_id), link.guardian_citizen_id
    raise AssertionError("the synthetic residents have such a child")


def _register_child(
    services: KioskServices, station_id: str, card_holder: str, child: PopulationRecord
) -> ServiceResponse:
    """``eid.start`` then ``eid.register`` for ``child``, ``card_holder``'s card in the reader."""
    start = ServiceRequest(
        station_id=station_id, action="eid.start", citizen_id=card_holder, phone=PHONE
    )
    started = services.handle(station_id, msgspec.structs.replace(start, guardian=True))
    assert started.status == "ok", started
    sms = SentSms.select().where(SentSms.to == PHONE).order_by(SentSms.id.desc()).get()
    register = ServiceRequest(
        station_id=station_id,
        action="eid.register",
        citizen_id=card_holder,
        phone=PHONE,
        ticket=started.ticket,
        code=re.search(r"\b(\d{6})\b", sms.text).group(1),
        declared=DeclaredIdentity(
            citizen_id=child.citizen_id,
            first_th=child.first_th,
            last_th=child.last_th,
            date_of_birth=child.date_of_birth,
        ),
        guardian=True,
        password="Family-Kiosk-7",
    )
    return services.handle(station_id, register)


def test_an_adult_not_linked_to_the_child_is_refused_and_the_parent_is_not(services):
    seed_records(120)
    child, parent = _unregistered_child_and_parent()
    linked = {link.guardian_citizen_id for link in child.guardianships}
    stranger = next(
        a.citizen_id
        for a in IdentityAccount.select().where(IdentityAccount.guardian.is_null())
        if a.citizen_id not in linked
    )

    refused = _register_child(services, "st-a", stranger, child)

    assert (refused.status, refused.reason) == ("refused", "not_guardian")
    assert IdentityAccount.get_or_none(IdentityAccount.citizen == child.citizen_id) is None
    # Audited as every refused registration is: the station, the action, the child's id.
    event = AuditEvent.get(AuditEvent.outcome == "not_guardian")
    assert (event.actor, event.action, event.subject) == (
        "station:st-a",
        "kiosk.eid.register",
        child.citizen_id,
    )

    registered = _register_child(services, "st-b", parent, child)

    assert (registered.status, registered.level) == ("ok", 1)
    assert IdentityAccount.get_by_id(child.citizen_id).guardian_citizen_id == parent


def _line_linking_to(citizen_id: str) -> tuple[bytes, str]:
    """A synthetic resident's line, also made guardian of ``citizen_id``; and that link's
    field."""
    resident = next(synthetic_residents(1, seed=77))
    links = [*resident.guardian_of, GuardianLink(citizen_id=citizen_id, relation="guardian")]
    line = encode_line(msgspec.structs.replace(resident, guardian_of=links))
    return line, f"guardian_of[{len(links) - 1}].citizen_id"


def test_the_import_refuses_a_link_to_someone_it_cannot_find(server_app):
    unknown = synthetic_citizen_id(random.Random("nobody"))
    line, field = _line_linking_to(unknown)

    with pytest.raises(ResidentsFileError) as refused:
        import_residents([line])

    assert refused.value.problems == [
        LineProblem(1, field, "is neither in the file nor in the population register")
    ]
    assert unknown not in str(refused.value)  # a problem names the field, never the value
    assert PopulationRecord.select().count() == Guardianship.select().count() == 0


def test_the_import_links_to_someone_already_in_the_register(server_app):
    seed_records(5)
    known = PopulationRecord.select().first().citizen_id

    line, _ = _line_linking_to(known)
    import_residents([line])

    link = Guardianship.get(Guardianship.child == known)
    assert link.relation == "guardian" and link.since is None
