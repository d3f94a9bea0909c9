"""The back office's work on petitions: the queue, one petition, assign, change status + SMS.

Views call these; they hold no Flask state, so tests drive them directly. Status history and
assignment are the master records' (``sync_server.records.petitions``); this module adds the
queue, the audit events and the SMS to the number that filed the petition.
"""

from __future__ import annotations

import json
import logging
import math
from dataclasses import dataclass
from datetime import datetime

from peewee import JOIN

from sync_server.backoffice.labels import CORRECTION_SERVICES
from sync_server.backoffice.notify import petition_language, status_sms_text
from sync_server.models import AuditEvent, Petition
from sync_server.records import petitions
from sync_server.records.models import PetitionAssignment
from sync_server.records.petitions import TRANSITIONS, PetitionError, StatusStep
from sync_server.sms import SmsError, SmsGateway, mask_phone

log = logging.getLogger(__name__)

#: Statuses that need no more work; the queue hides them unless asked.
FINAL_STATUSES = frozenset(status for status, nexts in TRANSITIONS.items() if not nexts)
PAGE_SIZE = 25
COMMENT_MAX = 1000


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
class StatusChangeResult:
    """The change made; ``sms_id`` when the citizen's SMS went out, else ``sms_error``."""

    to_status: str
    sms_id: str | None
    sms_error: str | None


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
    total = query.count()
    pages = max(1, math.ceil(total / page_size))
    page = min(max(page, 1), pages)
    rows = query.order_by(Petition.received_at, Petition.number).paginate(page, page_size).tuples()
    return QueuePage([QueueRow(*row) for row in rows], page, pages, total)


def petition_view(number: str, *, viewer: str) -> PetitionView:
    """One petition with its history; the view is audited (it shows personal data)."""
    petition = Petition.get_or_none(Petition.number == number)
    if petition is None:
        raise PetitionError("no petition with this number")
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
        history=petitions.history(number),
        next_statuses=TRANSITIONS.get(petition.status, ()),
    )


def assign(number: str, assignee: str, *, assigned_by: str) -> None:
    """Assign a petition to an officer (or reassign it), audited."""
    petitions.assign(number, assignee, assigned_by=assigned_by)
    audit(assigned_by, "petition.assign", number, assignee)


def change_status(
    number: str,
    to_status: str,
    *,
    actor: str,
    comment: str,
    gateway: SmsGateway,
    tracking_url: str,
    language: str | None = None,
) -> StatusChangeResult:
    """Move the petition to ``to_status`` with the officer's comment, then SMS the citizen.

    The SMS is in ``language``, else the petition's language if known, else the default.

    The change is committed first; an SMS that cannot be sent does not undo it — it is
    audited as ``failed`` and reported back so the officer sees it.
    """
    comment = (comment or "").strip()
    if not comment:
        raise PetitionError("a status change needs a comment")
    if len(comment) > COMMENT_MAX:
        raise PetitionError(f"the comment is longer than {COMMENT_MAX} characters")
    petitions.change_status(number, to_status, actor=actor, comment=comment)
    audit(actor, "petition.status", number, to_status)
    petition = Petition.get_by_id(number)
    language = language or petition_language(petition.form)
    text = status_sms_text(number, to_status, tracking_url, language)
    try:
        sms_id = gateway.send(petition.phone, text)
    except SmsError as exc:
        log.warning("status SMS for a petition not sent: %s", exc)
        audit(actor, "petition.sms", number, "failed")
        return StatusChangeResult(to_status, None, str(exc))
    audit(actor, "petition.sms", number, "sent")
    return StatusChangeResult(to_status, sms_id, None)


def audit(actor: str, action: str, subject: str, outcome: str) -> None:
    """One audit event (who, what, which petition, result); never personal data."""
    AuditEvent.create(actor=actor[:64], action=action, subject=subject[:64], outcome=outcome[:32])


def assignable_officers() -> list[str]:
    """Usernames a petition can be assigned to: unlocked officers and administrators."""
    from sync_server.operators.models import Operator

    query = (
        Operator.select(Operator.username)
        .where(Operator.role.in_(("officer", "administrator")) & ~Operator.locked)
        .order_by(Operator.username)
    )
    return [operator.username for operator in query]
