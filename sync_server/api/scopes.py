"""What an API token may read or do (apart from the models, so the CLI lists them cheaply)."""

from __future__ import annotations

#: ``metrics:read`` is for Prometheus; ``stations:enroll`` and ``stations:command`` are for
#: the technicians' ``dcs-provision``; the others are read-only API areas.
SCOPES: dict[str, str] = {
    "petitions:read": "petition status and status history (never personal data)",
    "stations:read": "the fleet: presence, sync figures, device gauges",
    "ingest:read": "ingest counters and rejected messages (never their content)",
    "metrics:read": "the Prometheus exposition at /metrics",
    "stations:enroll": "record station enrolments and certificate rotations (dcs-provision)",
    "stations:command": "queue commands to stations: decommissioning's replica wipe",
    "maintenance:write": "open and end maintenance windows (silence a station's notifications)",
    "rollouts:read": "staged rollouts: their waves and each station's state",
    "rollouts:write": "create and abort rollouts of registered releases and configuration changes",
    "notices:read": "public notices for the stations: targets, times, texts",
    "notices:write": "publish and withdraw public notices on the stations' home screens",
}
