"""Charges each station request against its budgets; refuses, alarms and quarantines.

Every responder (live lookups, kiosk services, replicas) calls :meth:`StationBudgets.charge`
before it answers. Over a budget, the request is refused, audited and a ``budget`` alarm is
opened; more refusals than the policy allows within its window put the station in
quarantine (``quarantine`` alarm), and from then on every request is refused until an
operator calls :func:`lift_quarantine`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from datetime import datetime

from sync_server.audit import audit
from sync_server.budgets.policy import BudgetPolicy
from sync_server.dashboard.alarms import Finding, clear_rules, quarantine_finding, raise_event
from sync_server.db import utc_now, write_transaction
from sync_server.fleet import quarantine as fleet_quarantine
from sync_server.fleet.quarantine import Quarantine
from sync_server.ratelimit import RateLimitedError, RateLimiter

log = logging.getLogger(__name__)

#: The key of the buckets' names. A station id is no secret (it is in every topic), so the
#: keyed hash only shapes the name; a fixed key lets the dashboard and the CLI forget a
#: station's counts without the workers' secret.
BUCKET_KEY = b"dcs-station-budgets"


class StationQuarantinedError(Exception):
    """The station is quarantined: it is refused every service."""

    def __init__(self, station_id: str, since: Quarantine) -> None:
        super().__init__(f"station {station_id} is quarantined: {since.reason}")
        self.quarantine = since


class OverBudgetError(Exception):
    """The station asked past its budget of ``kind``; ``retry_after_s`` says when it may."""

    def __init__(self, station_id: str, kind: str, retry_after_s: float) -> None:
        super().__init__(f"station {station_id} is over its {kind} budget")
        self.kind = kind
        self.retry_after_s = retry_after_s


class StationBudgets:
    """Per-station budgets kept in the database (they hold across workers and processes)."""

    def __init__(
        self, policy: BudgetPolicy | None = None, clock: Callable[[], datetime] = utc_now
    ) -> None:
        self.policy = policy or BudgetPolicy()
        self.limiter = RateLimiter(BUCKET_KEY, clock)

    def admit(self, station_id: str) -> None:
        """Raise :class:`StationQuarantinedError` if the station may not be served at all."""
        quarantined = fleet_quarantine.quarantine_of(station_id)
        if quarantined is not None:
            raise StationQuarantinedError(station_id, quarantined)

    def charge(self, station_id: str, kinds: Sequence[str]) -> None:
        """Count one request of the station against every budget of ``kinds``.

        All or nothing: a refused request counts against none. Raises
        :class:`StationQuarantinedError` or :class:`OverBudgetError`.
        """
        self.admit(station_id)
        checks = [(limit, station_id) for kind in kinds for limit in self.policy.limits(kind)]
        try:
            self.limiter.hit(checks)
        except RateLimitedError as exc:
            kind = self.policy.kind_of(exc.limit)
            self._refused(station_id, kind)
            raise OverBudgetError(station_id, kind, exc.retry_after_s) from None

    def _refused(self, station_id: str, kind: str) -> None:
        """Audit and alarm one refusal; quarantine the station when refusals keep coming."""
        with write_transaction():
            audit(f"station:{station_id}", f"budget.{kind}", station_id, "refused")
        message = f"เกินโควตา {kind} · over its {kind} budget"
        if raise_event(station_id, Finding("budget", "warning", message)):
            log.warning("station %s is over its %s budget", station_id, kind)
        try:
            self.limiter.hit([(self.policy.refusals, station_id)])
        except RateLimitedError:
            refusals = self.policy.refusals
            reason = f"more than {refusals.max_hits} refusals in {refusals.window}, last: {kind}"
            if fleet_quarantine.quarantine(station_id, reason):
                log.error("station %s quarantined: %s", station_id, reason)
                raise_event(station_id, quarantine_finding(reason))


def lift_quarantine(station_id: str, actor: str, policy: BudgetPolicy | None = None) -> bool:
    """Serve the station again (as ``actor``, audited); its counts start afresh.

    Its open ``budget`` and ``quarantine`` alarms are closed by ``actor``. Returns ``False``
    when the station was not quarantined.
    """
    lifted = fleet_quarantine.lift(station_id, actor)
    if lifted:
        # Forgive what led here too, or the next refusal would quarantine it again at once.
        RateLimiter(BUCKET_KEY).forget((policy or BudgetPolicy()).every_limit(), station_id)
        clear_rules(station_id, ("budget", "quarantine"), actor)
    return lifted
