"""The insured-person record behind the kiosk's screens: live from the server, else the replica.

Online, the record comes live over the contract's request/response (the server's responder
writes the audit event). Offline, or when the server does not answer in time, it comes from
the station's encrypted replica, labelled with the date it is as of; that lookup is audited
by an ``audit.lookup`` transaction in the outbox, which reaches the server's audit trail
when the station is back online.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date, datetime
from typing import TYPE_CHECKING, Literal

from contract import ContractError, InsuredRecord
from device.errors import LookupTimeoutError, ServerUnavailableError, StationError

if TYPE_CHECKING:
    from device.station import Station

log = logging.getLogger(__name__)

Outcome = Literal["found", "not_found", "unavailable"]
Source = Literal["live", "replica"]


@dataclass(frozen=True, repr=False)
class RecordView:
    """What the insured-person screens show, and where it came from."""

    outcome: Outcome
    source: Source | None
    record: InsuredRecord | None = None
    #: The date the data is as of (every screen shows it).
    as_of: date | None = None
    #: When the replica was last brought up to date (offline only).
    replica_updated_at: datetime | None = None

    def __repr__(self) -> str:  # never the record itself: it is personal data
        return f"RecordView(outcome={self.outcome!r}, source={self.source!r})"


def find_record(station: Station, citizen_id: str) -> RecordView:
    """The record of ``citizen_id``: live if the server answers, else from the replica."""
    try:
        response = station.sync.lookups.insured_record(citizen_id)
    except (ServerUnavailableError, LookupTimeoutError) as exc:
        log.info("live lookup unavailable (%s); using the replica", type(exc).__name__)
    except (StationError, ContractError) as exc:
        log.warning("live lookup failed (%s); using the replica", type(exc).__name__)
    else:
        if response.status == "ok" and response.full_record is not None:
            record = response.full_record
            return RecordView("found", "live", record, response.as_of or record.as_of)
        if response.status == "not_found":
            return RecordView("not_found", "live", None, response.as_of)
        log.warning("live lookup answered %s; using the replica", response.status)
    return _from_replica(station, citizen_id)


def _from_replica(station: Station, citizen_id: str) -> RecordView:
    replica = station.replica
    if replica is None or not replica.enabled:
        return RecordView("unavailable", None)
    record = replica.insured_record(citizen_id)
    state = replica.state
    outcome: Outcome = "found" if record is not None else "not_found"
    audit_lookup(station, citizen_id, outcome)
    return RecordView(
        outcome,
        "replica",
        record,
        record.as_of if record is not None else None,
        state.as_of,
    )


def audit_lookup(station: Station, citizen_id: str, outcome: str) -> None:
    """Queue the audit event of an offline lookup (it reaches the server with the outbox)."""
    try:
        station.store.outbox.enqueue(
            "audit.lookup",
            {"query": "insured_record", "citizen_id": citizen_id, "outcome": outcome},
        )
    except ContractError as exc:  # a contract without the kind: say so, never the id
        log.error("offline lookup not audited: %s", exc)
        return
    station.sync.wake()
