"""A petition's status history, assignment and the statuses the back office moves it through.

The ingest writes the petition (status ``received``); every later change goes through
:func:`change_status`, which updates the petition and appends the history in one
transaction. The SMS to the number that filed it is the back office's to send.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sync_server.db import database, utc_now, write_transaction
from sync_server.petitions.models import Petition, PetitionAssignment, PetitionStatusChange

#: Where a petition may go from each status; ``closed`` and ``rejected`` are final.
TRANSITIONS: dict[str, tuple[str, ...]] = {
    "received": ("in_review", "rejected"),
    "in_review": ("waiting_for_citizen", "approved", "rejected"),
    "waiting_for_citizen": ("in_review", "rejected"),
    "approved": ("closed",),
    "rejected": (),
    "closed": (),
}
STATUSES = tuple(TRANSITIONS)


class PetitionError(ValueError):
    """No such petition, or a status change it cannot make."""


@dataclass(frozen=True)
class StatusStep:
    """One line of a petition's history as the tracking page shows it."""

    status: str
    at: datetime
    actor: str
    comment: str | None


def change_status(
    number: str, to_status: str, *, actor: str, comment: str | None = None
) -> PetitionStatusChange:
    """Move a petition to ``to_status`` and record who did it and why."""
    with write_transaction(database.obj):
        petition = Petition.get_or_none(Petition.number == number)
        if petition is None:
            raise PetitionError("no petition with this number")
        if to_status not in TRANSITIONS.get(petition.status, ()):
            raise PetitionError(f"a {petition.status} petition cannot become {to_status}")
        change = PetitionStatusChange.create(
            petition=number,
            from_status=petition.status,
            to_status=to_status,
            actor=actor,
            comment=comment,
        )
        petition.status = to_status
        petition.save()
    return change


def history(number: str) -> list[StatusStep]:
    """Every status the petition had, oldest first, starting with its arrival."""
    petition = Petition.get_or_none(Petition.number == number)
    if petition is None:
        raise PetitionError("no petition with this number")
    steps = [StatusStep("received", petition.received_at, f"station:{petition.station_id}", None)]
    changes = (
        PetitionStatusChange.select()
        .where(PetitionStatusChange.petition == number)
        .order_by(PetitionStatusChange.id)
    )
    steps += [StatusStep(c.to_status, c.at, c.actor, c.comment) for c in changes]
    return steps


def assign(number: str, assignee: str, *, assigned_by: str) -> None:
    """Assign (or reassign) a petition to an officer."""
    with write_transaction(database.obj):
        if Petition.get_or_none(Petition.number == number) is None:
            raise PetitionError("no petition with this number")
        PetitionAssignment.insert(
            petition=number, assignee=assignee, assigned_by=assigned_by
        ).on_conflict(
            conflict_target=[PetitionAssignment.petition],
            preserve=[PetitionAssignment.assignee, PetitionAssignment.assigned_by],
            update={PetitionAssignment.assigned_at: utc_now()},
        ).execute()
