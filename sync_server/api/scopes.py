"""What an API token may read (kept apart from the models so the CLI can list them cheaply)."""

from __future__ import annotations

#: ``metrics:read`` is for Prometheus; the others are API areas.
SCOPES: dict[str, str] = {
    "petitions:read": "petition status and status history (never personal data)",
    "stations:read": "the fleet: presence, sync figures, device gauges",
    "ingest:read": "ingest counters and rejected messages (never their content)",
    "metrics:read": "the Prometheus exposition at /metrics",
}
