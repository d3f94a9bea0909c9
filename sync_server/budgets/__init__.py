"""Per-station budgets: how much one station may ask of the server, enforced per request.

``policy.py`` sizes a budget per request kind (live lookups, lookups outside the station's
building, each kiosk service action, SMS-sending actions, replica requests) to what a kiosk
serving one resident at a time can use; ``guard.py`` charges every request against them in
the database (``sync_server.ratelimit``: across workers and processes), refuses the ones over
budget with a ``budget`` alarm, and quarantines a station that keeps going. See
docs/security.md ("Per-station budgets"). Owns no table: the counts are ``ratelimithit``
rows, the quarantine is the station's (``fleet/quarantine.py``).
"""

from sync_server.budgets.guard import (
    OverBudgetError,
    StationBudgets,
    StationQuarantinedError,
    lift_quarantine,
)
from sync_server.budgets.policy import BudgetPolicy

__all__ = [
    "BudgetPolicy",
    "OverBudgetError",
    "StationBudgets",
    "StationQuarantinedError",
    "lift_quarantine",
]
