"""How much one station may ask of the server: one budget per request kind.

A station serves one resident at a time and a visit takes at least a minute (insert the
card, read, answer a question or two), so no honest kiosk makes more than about 60 visits an
hour or 600 in a ten-hour day. Each budget allows that pace with room for retries; far above
it is a script using a station's certificate. The numbers and their reasons are in
docs/security.md ("Per-station budgets"); keep the two in step.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta

from sync_server.ratelimit import Limit

#: The windows a budget may count over, and the short tag each gives a limit's name.
WINDOWS = {
    "m": timedelta(minutes=1),
    "t": timedelta(minutes=10),
    "h": timedelta(hours=1),
    "d": timedelta(days=1),
}

#: Live lookups of any resident (insured_summary and insured_record alike).
LOOKUP = "lookup"
#: Live lookups of a resident who does not live in the station's building.
LOOKUP_FOREIGN = "lookup.foreign"
#: Every service action that sends an SMS, together (each costs money and reaches a phone).
SMS = "sms"
#: Petitions filed whose SMS the server sends: counted from the petitions it received (the
#: ingest applies them in bulk), not charged per request; beyond it the petition is kept and
#: only its SMS is withheld (``sync_server/petitions/filing.py``).
FILING_SMS = "sms.filing"
#: Replica requests of any kind, and those asking for the whole building.
REPLICA = "replica"
REPLICA_FULL = "replica.full"
#: Requests for blocks of an update's files (sync_server/rollouts/delivery.py); the bytes
#: themselves are bounded per job by the release's size.
FILE = "file"

#: The service actions that send an SMS: each also counts against :data:`SMS`.
SMS_ACTIONS = frozenset({"otp.send", "password.start", "eid.start", "track.start"})


def service_kind(action: str) -> str:
    """The budget kind of a kiosk service action."""
    return f"service.{action}"


#: More than 20 refusals in an hour: no resident retries that often; a script does at once.
REFUSALS = Limit("sb-refusals", 20, timedelta(hours=1))


def _limits(kind: str, **per_window: int) -> tuple[Limit, ...]:
    # Names are 20 characters at most (the rate limiter's rule); a long kind fails at import.
    return tuple(
        Limit(f"sb-{kind.removeprefix('service.')}-{tag}", hits, WINDOWS[tag])
        for tag, hits in per_window.items()
    )


def _default_budgets() -> dict[str, tuple[Limit, ...]]:
    code_sending = {"t": 4, "h": 20, "d": 100}  # a code and one resend per visit
    code_checking = {"t": 10, "h": 60, "d": 300}  # a few wrong codes per visit
    budgets = {
        # One lookup per card insert; a re-insert or retry fits in the minute.
        LOOKUP: _limits(LOOKUP, m=5, h=120, d=600),
        # A visitor from another building is rare; a stolen certificate wants exactly these.
        LOOKUP_FOREIGN: _limits(LOOKUP_FOREIGN, h=3, d=10),
        SMS: _limits(SMS, t=4, h=20, d=100),
        # A visit takes a minute, so 60 filings an hour is the most an honest kiosk files; the
        # day allows a backlog of a day offline on top of a busy day.
        FILING_SMS: _limits(FILING_SMS, h=60, d=300),
        # Sent at every connect and after a refresh command; a flapping link reconnects often.
        REPLICA: _limits(REPLICA, h=20, d=100),
        # The whole building: at first enrolment, after a wipe or a lost cursor.
        REPLICA_FULL: _limits(REPLICA_FULL, h=4, d=12),
        # Up to 64 blocks (2 MiB) a request: a 100 MB release is about 50 requests; a station
        # asking block by block after a bad link still fits, a script pulling files does not.
        FILE: _limits(FILE, m=120, h=3000, d=10000),
        service_kind("petitions.mine"): _limits("petitions.mine", m=5, h=60, d=300),
        # The guardian's list of wards: once or twice per e-ID visit.
        service_kind("eid.wards"): _limits("eid.wards", m=5, h=60, d=300),
        service_kind("operator.login"): _limits("operator.login", t=5, h=20, d=60),
        # A resident looks at the slots a few times per visit (and once more after booking).
        service_kind("checkup.slots"): _limits("checkup.slots", m=5, h=60, d=300),
        service_kind("checkup.mine"): _limits("checkup.mine", m=5, h=60, d=300),
        # Booking and cancelling text only the phone on file of the card just read here
        # (never a typed number), so they have their own budget rather than the SMS one.
        service_kind("checkup.book"): _limits("checkup.book", t=4, h=20, d=100),
        service_kind("checkup.cancel"): _limits("checkup.cancel", t=4, h=20, d=100),
        # The counter page touches its session on every heartbeat while it is open.
        service_kind("operator.touch"): _limits("operator.touch", m=20, h=1200),
        service_kind("operator.logout"): _limits("operator.logout", m=10, h=120),
        # Bills (seed 002): a list per card insert like a lookup; a few QR codes per visit
        # (one per try, a plan or two); a status check now and then while a QR is shown.
        service_kind("bills.list"): _limits("bills.list", m=5, h=120, d=600),
        service_kind("bills.pay"): _limits("bills.pay", t=10, h=60, d=300),
        service_kind("bills.status"): _limits("bills.status", m=20, h=600, d=3000),
        service_kind("insurance.quote"): _limits("ins.quote", m=5, h=60, d=300),
        service_kind("insurance.buy"): _limits("ins.buy", t=5, h=30, d=150),
    }
    for action in SMS_ACTIONS:
        budgets[service_kind(action)] = _limits(action, **code_sending)
    for action in ("otp.check", "password.reset", "eid.register", "track.check"):
        budgets[service_kind(action)] = _limits(action, **code_checking)
    return budgets


@dataclass(frozen=True)
class BudgetPolicy:
    """The budgets per kind and how many refusals lead to quarantine."""

    budgets: dict[str, tuple[Limit, ...]] = field(default_factory=_default_budgets)
    #: More refusals than this within its window put the station in quarantine.
    refusals: Limit = REFUSALS

    def limits(self, kind: str) -> tuple[Limit, ...]:
        """The limits of ``kind``; an unknown kind gets the strictest service budget."""
        return self.budgets.get(kind) or self.budgets[SMS]

    def kind_of(self, limit: Limit) -> str:
        """The kind a limit belongs to (for messages and the audit trail)."""
        for kind, limits in self.budgets.items():
            if limit in limits:
                return kind
        return limit.name

    def every_limit(self) -> list[Limit]:
        """Every limit of every kind, and the refusal count."""
        return [limit for limits in self.budgets.values() for limit in limits] + [self.refusals]
