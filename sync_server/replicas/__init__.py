"""Per-station replicas of the master records: enrolment, the publisher, the commands.

For the dashboard: :func:`request_replica_refresh` and :func:`wipe_replica` (each returns
the :class:`contract.Command` sent, whose ``command_id`` the station's result names).
See docs/records-and-replicas.md.
"""

from sync_server.replicas.commands import (
    ReplicaCommandError,
    mqtt_publisher,
    request_replica_refresh,
    send_command,
    wipe_replica,
)
from sync_server.replicas.enrolment import EnrolmentError, enrol_station, parse_public_key

__all__ = [
    "EnrolmentError",
    "ReplicaCommandError",
    "enrol_station",
    "mqtt_publisher",
    "parse_public_key",
    "request_replica_refresh",
    "send_command",
    "wipe_replica",
]
