"""Write, publish, list and withdraw notices.

A notice is committed first, then published; a broker that does not confirm leaves it
unpublished (``published_at`` empty) and the page and API say so and offer to try again,
so nothing an operator wrote is lost to a broker outage. Withdrawing publishes the signed
notice again with ``withdrawn`` set, retained until it would have ended.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import msgspec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from contract import encode
from contract.notices import LANGUAGES, Notice, NoticeText, notice_topics, sign_notice
from sync_server.audit import audit
from sync_server.db import utc_now, write_transaction
from sync_server.notices.models import PublicNotice
from sync_server.notices.publish import Publisher, PublishError

SCOPES = ("all", "district", "buildings")
_CODE = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}[a-z0-9]$")
#: The longest a notice may run (a standing notice is re-published, not eternal).
MAX_DURATION = timedelta(days=366)


class NoticeError(ValueError):
    """A notice that cannot be written; ``field`` names the form field at fault."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


@dataclass(frozen=True)
class Draft:
    """What an operator writes: the targets, the times (aware) and the three texts."""

    scope: str
    starts_at: datetime
    ends_at: datetime
    texts: Mapping[str, tuple[str, str]]  # language -> (title, body)
    district: str | None = None
    buildings: tuple[str, ...] = ()


def _utc(value: datetime | str | None) -> datetime | None:
    if value is None:
        return None
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value if value.tzinfo else value.replace(tzinfo=UTC)


#: Nothing a screen cannot show (and PostgreSQL cannot store: NUL); a body keeps its lines.
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_CONTROL_IN_TEXT = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def check(draft: Draft) -> Draft:
    """``draft`` with its codes normalised, or :class:`NoticeError`."""
    if draft.scope not in SCOPES:
        raise NoticeError("scope", "scope must be all, district or buildings")
    district = (draft.district or "").strip().lower() or None
    buildings = tuple(dict.fromkeys(b.strip().lower() for b in draft.buildings if b.strip()))
    if draft.scope == "district" and (district is None or not _CODE.match(district)):
        raise NoticeError("district", "a district code like district-1")
    if draft.scope == "buildings" and (
        not buildings or len(buildings) > 50 or not all(_CODE.match(b) for b in buildings)
    ):
        raise NoticeError("buildings", "one to 50 building codes like building-1")
    if draft.starts_at.tzinfo is None or draft.ends_at.tzinfo is None:
        raise NoticeError("starts_at", "times must carry their zone")
    if draft.ends_at <= draft.starts_at:
        raise NoticeError("ends_at", "the end must come after the start")
    if draft.ends_at - draft.starts_at > MAX_DURATION:
        raise NoticeError("ends_at", "a notice runs at most a year")
    for language in LANGUAGES:
        title, body = draft.texts.get(language, ("", ""))
        # The field named is the one to mend (the form marks it).
        title_ok = bool(title.strip()) and len(title) <= 120
        at_fault = f"body_{language}" if title_ok else f"title_{language}"
        if not title.strip() or len(title) > 120 or len(body) > 1000:
            raise NoticeError(at_fault, f"a title (120) and text (1000) in {language}")
        if _CONTROL.search(title) or _CONTROL_IN_TEXT.search(body):
            at_fault = f"title_{language}" if _CONTROL.search(title) else f"body_{language}"
            raise NoticeError(at_fault, f"no control characters in {language}")
    return Draft(
        scope=draft.scope,
        starts_at=draft.starts_at.astimezone(UTC),
        ends_at=draft.ends_at.astimezone(UTC),
        texts={
            lang: (draft.texts[lang][0].strip(), draft.texts[lang][1].strip()) for lang in LANGUAGES
        },
        district=district if draft.scope == "district" else None,
        buildings=buildings if draft.scope == "buildings" else (),
    )


def create(draft: Draft, *, actor: str) -> PublicNotice:
    """Keep a checked notice (not yet published)."""
    draft = check(draft)
    fields = {}
    for language in LANGUAGES:
        fields[f"title_{language}"], fields[f"body_{language}"] = draft.texts[language]
    with write_transaction():
        row = PublicNotice.create(
            notice_id=uuid.uuid4().hex,
            scope=draft.scope,
            district=draft.district,
            buildings=",".join(draft.buildings),
            starts_at=draft.starts_at,
            ends_at=draft.ends_at,
            created_by=actor[:64],
            **fields,
        )
        audit(actor, "notice.create", f"notice:{row.notice_id}", draft.scope)
    return row


def message(row: PublicNotice) -> Notice:
    """The unsigned contract message of ``row``."""
    return Notice(
        notice_id=row.notice_id,
        scope=row.scope,
        district=row.district,
        buildings=[b for b in row.buildings.split(",") if b],
        starts_at=_utc(row.starts_at),
        ends_at=_utc(row.ends_at),
        texts={
            lang: NoticeText(title=getattr(row, f"title_{lang}"), body=getattr(row, f"body_{lang}"))
            for lang in LANGUAGES
        },
        issued_at=_utc(row.created_at),
        withdrawn=row.withdrawn_at is not None,
    )


def publish(
    row: PublicNotice,
    publisher: Publisher,
    key: Ed25519PrivateKey,
    now: Callable[[], datetime] = utc_now,
) -> bool:
    """Sign and publish ``row`` retained on its topics; whether the broker confirmed it."""
    notice = sign_notice(message(row), key)
    left = (_utc(row.ends_at) - now()).total_seconds()
    if left <= 0:
        return False  # ended: nothing to deliver (the broker let any earlier copy expire)
    payload = encode(notice)
    try:
        publisher([(topic, payload, int(left) + 1) for topic in notice_topics(notice)])
    except PublishError:
        return False
    with write_transaction():
        PublicNotice.update(published_at=now()).where(PublicNotice.id == row.id).execute()
    row.published_at = now()
    return True


def withdraw(notice_id: str, *, actor: str) -> PublicNotice | None:
    """Mark a notice withdrawn (publish it again to tell the stations)."""
    with write_transaction():
        row = PublicNotice.get_or_none(PublicNotice.notice_id == notice_id)
        if row is None:
            return None
        if row.withdrawn_at is None:
            row.withdrawn_at, row.withdrawn_by, row.published_at = utc_now(), actor[:64], None
            row.save()
            audit(actor, "notice.withdraw", f"notice:{notice_id}", "ok")
    return row


def listing(now: datetime, *, include_ended: bool = False, limit: int = 200) -> list[PublicNotice]:
    """Notices that have not ended (or all, newest first)."""
    query = PublicNotice.select().order_by(PublicNotice.starts_at.desc()).limit(limit)
    if not include_ended:
        query = query.where(PublicNotice.ends_at > now)
    return list(query)


def state_of(row: PublicNotice, now: datetime) -> str:
    """``withdrawn``, ``ended``, ``scheduled`` or ``current``."""
    if row.withdrawn_at is not None:
        return "withdrawn"
    if _utc(row.ends_at) <= now:
        return "ended"
    return "scheduled" if _utc(row.starts_at) > now else "current"


def as_dict(row: PublicNotice, now: datetime) -> dict[str, object]:
    """A notice for the API: its targets, times, texts and state."""
    notice = message(row)
    return {
        **msgspec.to_builtins(msgspec.structs.replace(notice, signature=None)),
        "state": state_of(row, now),
        "published": row.published_at is not None,
    }
