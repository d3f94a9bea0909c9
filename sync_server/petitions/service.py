"""Everything the server does with a petition; other packages call this, never its tables.

- filing: the ingest worker applies ``petition.filed`` with :data:`FILED` (``filing.py``),
  which writes the petition and queues seed 004's SMS in the same transaction;
- the back office: :func:`queue`, :func:`petition_view`, :func:`assign`,
  :func:`change_status` (status, history and the citizen's SMS in one transaction) and
  :func:`update_phone` (seed 004: a changed number, after staff verified the citizen);
- tracking and kiosks: :func:`find`, :func:`phone_matches`, :func:`history`,
  :func:`of_citizen`; the API and metrics: :func:`counts_by_status`, :func:`total`.

Statuses move along :data:`TRANSITIONS`; ``closed`` and ``rejected`` are final.
"""

from __future__ import annotations

import hmac
import json
import math
from dataclasses import dataclass
from datetime import datetime

import peewee
from peewee import JOIN

from contract.identifiers import InvalidThaiMobileError, normalize_thai_mobile
from sync_server.audit import audit
from sync_server.db import database, utc_now, write_transaction
from sync_server.petitions import notify
from sync_server.petitions.models import Petition, PetitionAssignment, PetitionStatusChange
from sync_server.sms.gateway import mask_phone

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
#: Statuses that need no more work; the queue hides them unless asked.
FINAL_STATUSES = frozenset(status for status, nexts in TRANSITIONS.items() if not nexts)
#: Services that are data-correction requests rather than petitions (the queue's "kind").
CORRECTION_SERVICES = frozenset({"population_correction"})
PAGE_SIZE = 25
COMMENT_MAX = 1000


class PetitionError(ValueError):
    """No such petition, or a change it cannot make."""


@dataclass(frozen=True)
class StatusStep:
    """One line of a petition's history: the status, when, who (staff or station), why.

    ``note`` lines record a change that is not a status change (a new phone number); only
    staff see them.
    """

    status: str
    at: datetime
    actor: str
    comment: str | None
    note: bool = False


@dataclass(frozen=True)
class QueueFilter:
    """What the queue shows. ``status``: a status, ``open`` (default) or ``all``;
    ``kind``: ``petition`` or ``correction``; ``assignee``: a name or ``unassigned``."""

    status: str = "open"
    service: str | None = None
    station: str | None = None
    kind: str | None = None
    assignee: str | None = None


@dataclass(frozen=True)
class QueueRow:
    number: str
    service: str
    station_id: str
    status: str
    received_at: datetime
    assignee: str | None


@dataclass(frozen=True)
class QueuePage:
    rows: list[QueueRow]
    page: int
    pages: int
    total: int


@dataclass(frozen=True)
class PetitionView:
    """One petition as an officer sees it: the phone only masked."""

    number: str
    service: str
    station_id: str
    status: str
    received_at: datetime
    phone_masked: str
    citizen_id: str | None
    form: dict[str, str]
    assignee: str | None
    history: list[StatusStep]
    next_statuses: tuple[str, ...]


@dataclass(frozen=True)
class PetitionSummary:
    """What tracking and kiosks may show: number, service, status, when; no personal data."""

    number: str
    service: str
    station_id: str
    status: str
    received_at: datetime
    history: list[StatusStep]


@dataclass(frozen=True)
class StatusChange:
    """A status change made; ``sms_id`` is the citizen's queued SMS (None if not queued)."""

    to_status: str
    sms_id: int | None


# -- reading ----------------------------------------------------------------------------


def _get(number: str) -> Petition:
    petition = Petition.get_or_none(Petition.number == number)
    if petition is None:
        raise PetitionError("no petition with this number")
    return petition


def find(number: str) -> PetitionSummary | None:
    """The petition with this number, or None."""
    petition = Petition.get_or_none(Petition.number == number)
    return None if petition is None else _summary(petition)


def phone_matches(number: str, phone: str) -> bool:
    """Whether ``phone`` filed petition ``number`` (constant-time on the number compared)."""
    petition = Petition.get_or_none(Petition.number == number)
    return petition is not None and hmac.compare_digest(petition.phone.encode(), phone.encode())


def history(number: str, *, notes: bool = False) -> list[StatusStep]:
    """Every status the petition had, oldest first, starting with its arrival; with
    ``notes`` also the staff-only lines (a changed phone number)."""
    steps = _history(_get(number))
    return steps if notes else [step for step in steps if not step.note]


def _history(petition: Petition) -> list[StatusStep]:
    steps = [StatusStep("received", petition.received_at, f"station:{petition.station_id}", None)]
    changes = (
        PetitionStatusChange.select()
        .where(PetitionStatusChange.petition == petition.number)
        .order_by(PetitionStatusChange.id)
    )
    steps += [
        StatusStep(c.to_status, c.at, c.actor, c.comment, note=c.from_status == c.to_status)
        for c in changes
    ]
    return steps


def _summary(petition: Petition) -> PetitionSummary:
    return PetitionSummary(
        petition.number,
        petition.service,
        petition.station_id,
        petition.status,
        petition.received_at,
        [step for step in _history(petition) if not step.note],
    )


def of_citizen(citizen_id: str, limit: int) -> list[PetitionSummary]:
    """The card holder's petitions, newest first."""
    rows = (
        Petition.select()
        .where(Petition.citizen_id == citizen_id)
        .order_by(Petition.received_at.desc())
        .limit(limit)
    )
    return [_summary(row) for row in rows]


def total() -> int:
    """How many petitions the server holds."""
    return Petition.select().count()


def counts_by_status() -> dict[str, int]:
    """Petitions per status."""
    query = Petition.select(Petition.status, peewee.fn.COUNT(Petition.number)).group_by(
        Petition.status
    )
    return dict(query.tuples())


def queue(filters: QueueFilter, page: int = 1, page_size: int = PAGE_SIZE) -> QueuePage:
    """One page of petitions matching ``filters``, oldest first (first come, first served)."""
    query = Petition.select(
        Petition.number,
        Petition.service,
        Petition.station_id,
        Petition.status,
        Petition.received_at,
        PetitionAssignment.assignee,
    ).join(
        PetitionAssignment,
        JOIN.LEFT_OUTER,
        on=(PetitionAssignment.petition == Petition.number),
    )
    if filters.status == "open":
        query = query.where(Petition.status.not_in(sorted(FINAL_STATUSES)))
    elif filters.status and filters.status != "all":
        query = query.where(Petition.status == filters.status)
    if filters.service:
        query = query.where(Petition.service == filters.service)
    if filters.station:
        query = query.where(Petition.station_id == filters.station)
    if filters.kind == "correction":
        query = query.where(Petition.service.in_(sorted(CORRECTION_SERVICES)))
    elif filters.kind == "petition":
        query = query.where(Petition.service.not_in(sorted(CORRECTION_SERVICES)))
    if filters.assignee == "unassigned":
        query = query.where(PetitionAssignment.assignee.is_null())
    elif filters.assignee:
        query = query.where(PetitionAssignment.assignee == filters.assignee)
    count = query.count()
    pages = max(1, math.ceil(count / page_size))
    page = min(max(page, 1), pages)
    rows = query.order_by(Petition.received_at, Petition.number).paginate(page, page_size).tuples()
    return QueuePage([QueueRow(*row) for row in rows], page, pages, count)


def petition_view(number: str, *, viewer: str) -> PetitionView:
    """One petition with its history; the view is audited (it shows personal data)."""
    petition = _get(number)
    assignment = PetitionAssignment.get_or_none(PetitionAssignment.petition == number)
    audit(viewer, "petition.view", number, "ok")
    try:
        form = json.loads(petition.form or "{}")
    except ValueError:
        form = {}
    return PetitionView(
        number=petition.number,
        service=petition.service,
        station_id=petition.station_id,
        status=petition.status,
        received_at=petition.received_at,
        phone_masked=mask_phone(petition.phone),
        citizen_id=petition.citizen_id,
        form=form if isinstance(form, dict) else {},
        assignee=assignment.assignee if assignment else None,
        history=_history(petition),  # staff see the notes too
        next_statuses=TRANSITIONS.get(petition.status, ()),
    )


# -- changing ---------------------------------------------------------------------------


def assign(number: str, assignee: str, *, assigned_by: str) -> None:
    """Assign (or reassign) a petition to an officer, audited."""
    with write_transaction(database.obj):
        _get(number)
        PetitionAssignment.insert(
            petition=number, assignee=assignee, assigned_by=assigned_by
        ).on_conflict(
            conflict_target=[PetitionAssignment.petition],
            preserve=[PetitionAssignment.assignee, PetitionAssignment.assigned_by],
            update={PetitionAssignment.assigned_at: utc_now()},
        ).execute()
        audit(assigned_by, "petition.assign", number, assignee)


def change_status(number: str, to_status: str, *, actor: str, comment: str) -> StatusChange:
    """Move a petition to ``to_status`` with the officer's comment.

    The status, its history line, the audit event and the citizen's SMS (number, new status,
    tracking link; never the comment, which is internal) are one transaction: the SMS is
    queued exactly when the change happened, and delivered by the SMS outbox.
    """
    comment = (comment or "").strip()
    if not comment:
        raise PetitionError("a status change needs a comment")
    if len(comment) > COMMENT_MAX:
        raise PetitionError(f"the comment is longer than {COMMENT_MAX} characters")
    with write_transaction(database.obj):
        petition = _get(number)
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
        audit(actor, "petition.status", number, to_status)
        sms_id = notify.queue_status_sms(petition, to_status, change.id)
    return StatusChange(to_status, sms_id)


def update_phone(number: str, new_phone: str, *, actor: str, verified_by: str) -> None:
    """Seed 004: the citizen's number changed; staff verified who they are and record it.

    ``verified_by`` says how (e.g. "ID card at the district office"); it goes to the
    petition's history as the comment, the numbers themselves never do (only masked).
    Later SMS and the tracking page's check use the new number.
    """
    try:
        phone = normalize_thai_mobile(new_phone or "")
    except InvalidThaiMobileError:
        raise PetitionError("the new number is not a mobile number (0 and nine digits)") from None
    verified_by = (verified_by or "").strip()
    if not verified_by:
        raise PetitionError("say how the citizen's identity was verified")
    if len(verified_by) > COMMENT_MAX:
        raise PetitionError(f"the note is longer than {COMMENT_MAX} characters")
    with write_transaction(database.obj):
        petition = _get(number)
        if hmac.compare_digest(petition.phone.encode(), phone.encode()):
            raise PetitionError("this is already the petition's number")
        old = petition.phone
        petition.phone = phone
        petition.save()
        PetitionStatusChange.create(
            petition=number,
            from_status=petition.status,
            to_status=petition.status,
            actor=actor,
            comment=f"phone {mask_phone(old)} → {mask_phone(phone)}; identity: {verified_by}",
        )
        audit(actor, "petition.phone", number, "updated")
