"""Which stations get a replica, of which building, encrypted for which key."""

from __future__ import annotations

import base64
import binascii

import msgspec

from contract.messages import BuildingId
from contract.topics import check_station_id
from sync_server.audit import audit
from sync_server.db import database, write_transaction
from sync_server.replicas.models import StationReplica


class EnrolmentError(ValueError):
    """A bad station id, building or public key."""


def parse_public_key(text: str | bytes) -> bytes:
    """A station's replica public key from base64 (as ``python -m device.replica key`` prints)."""
    if isinstance(text, bytes) and len(text) == 32:
        return text
    try:
        raw = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise EnrolmentError("the public key is not base64") from None
    if len(raw) != 32:
        raise EnrolmentError("the public key must be 32 bytes (X25519)")
    return raw


def enrol_station(
    station_id: str, building: str, public_key: str | bytes, *, actor: str = "provisioning"
) -> StationReplica:
    """Enrol (or re-enrol: new building or key) a station for the replica of ``building``.

    Re-enrolling forgets what was sent, so the station's next request gets a full replica
    for its new scope (its old records are replaced, not merged).
    """
    check_station_id(station_id)
    try:
        msgspec.convert(building, BuildingId)
    except msgspec.ValidationError:
        raise EnrolmentError("building must be a lowercase code like building-1") from None
    key = parse_public_key(public_key)
    with write_transaction(database.obj):
        StationReplica.insert(
            station_id=station_id, building=building, public_key=key, suspended=False
        ).on_conflict(
            conflict_target=[StationReplica.station_id],
            preserve=[StationReplica.building, StationReplica.public_key],
            update={
                StationReplica.suspended: False,
                StationReplica.sent_cursor: None,
                StationReplica.station_cursor: None,
            },
        ).execute()
        audit(actor, "replica.enrol", station_id, building)
    return StationReplica.get_by_id(station_id)


def building_of_station(station_id: str) -> str | None:
    """The building the station is enrolled to serve, or ``None`` when it is not enrolled."""
    return (
        StationReplica.select(StationReplica.building)
        .where(StationReplica.station_id == station_id)
        .scalar()
    )
