"""Per-station budgets against a stolen station certificate used as a personal-data oracle.

The flood goes through the real broker and the real ingest worker's lookup responder, as a
station (or a script holding its certificate) would send it. The figures the security note
quotes (foreign records answered before quarantine, how long the flood took) are printed;
no test depends on the wall clock.
"""

from __future__ import annotations

import contextlib
import time
from collections import Counter

import msgspec
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from contract import ServiceRequest
from contract.replica_seal import raw_public
from devtools.seed import seed_records
from sync_server.audit import AuditEvent
from sync_server.budgets import BudgetPolicy, OverBudgetError, StationBudgets
from sync_server.budgets.policy import LOOKUP, LOOKUP_FOREIGN
from sync_server.dashboard import alarms
from sync_server.fleet.quarantine import quarantine_of
from sync_server.kiosk_services.handlers import KioskServices
from sync_server.otp import service_from_config
from sync_server.records.models import InsuredPerson
from sync_server.replicas import enrol_station
from sync_server.sms import SinkGateway
from sync_server.tracking.service import TrackingLimits
from tests.helpers import wait_until
from tests.operator_fixtures import csrf_token

HOME = "building-1"
STATION = "st-a"


def _enrol(station_id: str = STATION, building: str = HOME) -> None:
    enrol_station(station_id, building, raw_public(X25519PrivateKey.generate().public_key()))


def _residents() -> tuple[list[str], list[str]]:
    """Citizen ids of the home building's residents and of everyone else's."""
    people = list(InsuredPerson.select(InsuredPerson.citizen_id, InsuredPerson.building))
    home = [p.citizen_id for p in people if p.building == HOME]
    foreign = [p.citizen_id for p in people if p.building != HOME]
    return home, foreign


def test_a_station_flooding_live_lookups_is_refused_then_quarantined(
    server_app, ingest, station_factory
):
    seed_records(300)
    _enrol()
    home, foreign = _residents()
    station = station_factory()
    wait_until(lambda: station.sync.link.connected, "the station to connect")
    policy = BudgetPolicy()
    per_minute = min(limit.max_hits for limit in policy.limits(LOOKUP))
    foreign_budget = min(limit.max_hits for limit in policy.limits(LOOKUP_FOREIGN))

    # The attack of the issue: every citizen id of every building, as fast as it answers.
    targets = [cid for pair in zip(foreign, home, strict=False) for cid in pair]
    targets += foreign[len(home) :] + home[len(foreign) :]
    assert len(targets) == 300
    outcomes: list[tuple[str, str, str | None]] = []  # (citizen id, status, reason)
    started = time.monotonic()
    quarantined_after_s: float | None = None
    for citizen_id in targets:
        answer = station.sync.lookups.insured_record(citizen_id)
        outcomes.append((citizen_id, answer.status, answer.reason))
        if answer.reason == "station_quarantined" and quarantined_after_s is None:
            quarantined_after_s = time.monotonic() - started
    elapsed = time.monotonic() - started

    answered = [cid for cid, status, _ in outcomes if status == "ok"]
    foreign_answered = [cid for cid in answered if cid in set(foreign)]
    statuses = Counter(reason or status for _, status, reason in outcomes)
    print(
        f"\nflood of {len(targets)} live lookups from {STATION}: {len(answered)} records "
        f"answered, {len(foreign_answered)} of them foreign; quarantined after "
        f"{quarantined_after_s:.2f} s (whole flood {elapsed:.2f} s); outcomes {dict(statuses)}"
    )

    # Answers up to the budget, then refusals, then quarantine; the records stop coming.
    assert 0 < len(answered) <= per_minute
    assert len(foreign_answered) <= foreign_budget
    first_refusal = next(i for i, (_, status, _) in enumerate(outcomes) if status == "refused")
    assert all(status == "ok" for _, status, _ in outcomes[:first_refusal])
    assert all(status == "refused" for _, status, _ in outcomes[first_refusal:])
    assert outcomes[first_refusal][2].startswith("over_budget:")
    assert outcomes[-1][2] == "station_quarantined"
    refusals_before_quarantine = sum(1 for o in outcomes if (o[2] or "").startswith("over_budget:"))
    assert refusals_before_quarantine == policy.refusals.max_hits + 1

    # Marked quarantined, with both alarms on the dashboard.
    assert quarantine_of(STATION) is not None
    assert {a.rule for a in alarms.open_alarms(STATION)} == {"budget", "quarantine"}
    # ...which the rules loop keeps open while the quarantine lasts.
    alarms.evaluate()
    assert {a.rule for a in alarms.open_alarms(STATION)} == {"budget", "quarantine"}

    # Even a resident of its own building is refused now.
    assert station.sync.lookups.insured_record(home[0]).reason == "station_quarantined"

    # The audit trail flags every foreign record it was given.
    flagged = AuditEvent.select().where(AuditEvent.action == "lookup.insured_record.foreign")
    assert sorted(e.subject for e in flagged) == sorted(foreign_answered)


def test_a_quarantined_station_is_refused_kiosk_services_too(server_app):
    _enrol()
    otp = service_from_config(server_app.config, SinkGateway())
    services = KioskServices(otp, TrackingLimits.from_config(server_app.config))
    mine = ServiceRequest(station_id=STATION, action="petitions.mine", citizen_id="1101700000018")
    answers = Counter()
    for _ in range(60):
        answer = services.handle(STATION, mine)
        answers[answer.reason or answer.status] += 1
    assert answers["ok"] == 5  # the per-minute budget of petitions.mine
    assert answers["over_budget:service.petitions.mine"] == BudgetPolicy().refusals.max_hits + 1
    assert quarantine_of(STATION) is not None

    # SMS at our cost: refused outright, nothing queued.
    send = ServiceRequest(
        station_id=STATION, action="otp.send", phone="0812345678", purpose="petition"
    )
    assert services.handle(STATION, send).reason == "station_quarantined"


def test_sms_actions_share_one_budget(server_app):
    otp = service_from_config(server_app.config, SinkGateway())
    services = KioskServices(otp, TrackingLimits.from_config(server_app.config))
    phones = (f"08123456{n:02d}" for n in range(10))  # the per-number limits never bite

    def otp_send() -> str:
        send = ServiceRequest(station_id="st-b", action="otp.send", phone=next(phones))
        return services.handle("st-b", msgspec.structs.replace(send, purpose="petition")).status

    def password_start() -> str:
        start = ServiceRequest(
            station_id="st-b",
            action="password.start",
            citizen_id="1101700000018",
            insurance_number="1101700000018",
            phone=next(phones),
        )
        return services.handle("st-b", start).status

    assert [otp_send(), otp_send(), password_start(), password_start()] == [
        "ok",
        "ok",
        "no_match",
        "no_match",
    ]
    # otp.send alone has used two of its four: the SMS budget of the station is spent.
    assert otp_send() == "rate_limited"
    assert {a.rule for a in alarms.open_alarms("st-b")} == {"budget"}


def test_an_operator_lifts_the_quarantine_from_the_station_page(
    server_app, ingest, station_factory, login_client
):
    seed_records(40)
    _enrol()
    home, _ = _residents()
    station = station_factory()
    wait_until(lambda: station.sync.link.connected, "the station to connect")
    budgets = StationBudgets()
    for _ in range(200):
        if quarantine_of(STATION) is not None:
            break
        with contextlib.suppress(OverBudgetError):  # refusals are what this loop provokes
            budgets.charge(STATION, [LOOKUP])
    assert station.sync.lookups.insured_record(home[0]).reason == "station_quarantined"

    officer = login_client("officer")
    assert officer.get(f"/dashboard/stations/{STATION}").status_code == 403
    client = login_client("operations")
    page = client.get(f"/dashboard/stations/{STATION}")
    lift_form = f'action="/dashboard/stations/{STATION}/quarantine/lift"'
    assert lift_form in page.text
    answer = client.post(
        f"/dashboard/stations/{STATION}/quarantine/lift",
        data={"csrf_token": csrf_token(page.text)},
    )
    assert answer.status_code == 303

    assert quarantine_of(STATION) is None
    assert alarms.open_alarms(STATION) == []
    lifted = AuditEvent.get(AuditEvent.action == "station.quarantine_lift")
    assert (lifted.actor, lifted.subject, lifted.outcome) == (
        client.operator_username,
        STATION,
        "lifted",
    )
    assert station.sync.lookups.insured_record(home[0]).status == "ok"
    assert lift_form not in client.get(f"/dashboard/stations/{STATION}").text
