"""``/api/v1/notices``: public notices for the stations (the dashboard has the same page).

Reading needs ``notices:read``; publishing and withdrawing need ``notices:write``. A notice
is kept even when the broker does not confirm it (``published: false``); publishing it again
is ``POST /api/v1/notices/<id>/publish``.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import marshmallow as ma
from flask import current_app
from flask_smorest import Blueprint, abort
from marshmallow import fields, validate

from sync_server.api.auth import current_token, documented_scope
from sync_server.api.errors import json_errors
from sync_server.api.fields import UtcDateTime, UtcInput, WholeMatch
from sync_server.db import utc_now
from sync_server.notices import service
from sync_server.notices.models import PublicNotice
from sync_server.notices.publish import app_publisher, app_signing_key

blp = Blueprint(
    "api_notices",
    __name__,
    url_prefix="/api/v1/notices",
    description="Public notices on the stations' home screens (seed 002).",
)
json_errors(blp)


#: A title: non-blank (the server strips it and needs something left), no control characters.
TITLE = r"^[^\x00-\x1f\x7f]*[^\s\x00-\x1f\x7f][^\x00-\x1f\x7f]*$"
#: A body: what a screen can show, keeping its lines and tabs.
PRINTABLE_TEXT = r"^[^\x00-\x08\x0b\x0c\x0e-\x1f\x7f]*$"
#: ``all``, ``district:<code>`` or ``buildings:<code>[,<code>...]`` (up to 50 buildings).
TARGET = (
    r"^(all|district:[a-z0-9][a-z0-9-]{0,62}[a-z0-9]"
    r"|buildings:[a-z0-9][a-z0-9-]{0,62}[a-z0-9](,[a-z0-9][a-z0-9-]{0,62}[a-z0-9]){0,49})$"
)


class NoticeTextSchema(ma.Schema):
    title = fields.String(
        required=True,
        validate=[validate.Length(min=1, max=120), WholeMatch(TITLE)],
    )
    body = fields.String(
        load_default="", validate=[validate.Length(max=1000), WholeMatch(PRINTABLE_TEXT)]
    )


class NoticeTextsSchema(ma.Schema):
    th = fields.Nested(NoticeTextSchema, required=True)
    vi = fields.Nested(NoticeTextSchema, required=True)
    en = fields.Nested(NoticeTextSchema, required=True)


class NoticeRequestSchema(ma.Schema):
    """A new notice: for every station, one district or named buildings, from ``starts_at``
    for ``minutes``."""

    target = fields.String(
        required=True,
        validate=WholeMatch(TARGET),
        metadata={
            "description": "`all`, `district:<code>` or `buildings:<code>,<code>...`",
            "example": "buildings:building-1,building-2",
        },
    )
    starts_at = UtcInput(metadata={"description": "default: now"})
    minutes = fields.Integer(
        required=True,
        validate=validate.Range(min=1, max=366 * 24 * 60),
        metadata={"description": "how long it shows: at most a year", "example": 1440},
    )
    texts = fields.Nested(NoticeTextsSchema, required=True)


class NoticeSchema(ma.Schema):
    """A notice, its state (`current`, `scheduled`, `withdrawn`, `ended`) and whether the
    broker confirmed it."""

    notice_id = fields.String(required=True)
    scope = fields.String(required=True)
    district = fields.String(allow_none=True, required=True)
    buildings = fields.List(fields.String(), required=True)
    starts_at = UtcDateTime(required=True)
    ends_at = UtcDateTime(required=True)
    texts = fields.Nested(NoticeTextsSchema, required=True)
    state = fields.String(required=True)
    published = fields.Boolean(required=True)


class NoticeListSchema(ma.Schema):
    notices = fields.List(fields.Nested(NoticeSchema), required=True)


def _view(row: PublicNotice) -> dict[str, Any]:
    now = utc_now()
    notice = service.message(row)
    return {
        "notice_id": notice.notice_id,
        "scope": notice.scope,
        "district": notice.district,
        "buildings": notice.buildings,
        "starts_at": notice.starts_at,
        "ends_at": notice.ends_at,
        "texts": {lang: {"title": t.title, "body": t.body} for lang, t in notice.texts.items()},
        "state": service.state_of(row, now),
        "published": row.published_at is not None,
    }


def _publish(row: PublicNotice) -> None:
    service.publish(
        row,
        app_publisher(current_app.config),
        app_signing_key(current_app.config, current_app.instance_path),
    )


def _actor() -> str:
    token = current_token()
    assert token is not None  # documented_scope ran first
    return f"api:{token.name}"


@blp.get("")
@documented_scope(blp, "notices:read")
@blp.response(200, NoticeListSchema)
def notices() -> dict[str, object]:
    """The notices that have not ended, latest start first."""
    return {"notices": [_view(row) for row in service.listing(utc_now())]}


@blp.post("")
@documented_scope(blp, "notices:write")
@blp.arguments(NoticeRequestSchema)
@blp.response(201, NoticeSchema)
def create(body: dict[str, Any]) -> object:
    """Write a notice and publish it to its stations."""
    starts_at = body["starts_at"].replace(tzinfo=UTC) if body.get("starts_at") else utc_now()
    try:
        ends_at = starts_at + timedelta(minutes=body["minutes"])
    except OverflowError:  # a start at the end of time: the notice ends there too
        ends_at = datetime.max.replace(tzinfo=UTC)
        starts_at = min(starts_at, ends_at - timedelta(minutes=1))
    kind, _, names = body["target"].partition(":")
    draft = service.Draft(
        scope=kind,
        district=names if kind == "district" else None,
        buildings=tuple(names.split(",")) if kind == "buildings" else (),
        starts_at=starts_at,
        ends_at=ends_at,
        texts={lang: (text["title"], text["body"]) for lang, text in body["texts"].items()},
    )
    try:
        row = service.create(draft, actor=_actor())
    except service.NoticeError as exc:
        abort(422, message=str(exc), errors={"json": {exc.field: [str(exc)]}})
    _publish(row)
    return _view(row)


@blp.post("/<notice_id>/<action>")
@documented_scope(blp, "notices:write")
@blp.response(200, NoticeSchema)
@blp.alt_response(404, response="NOT_FOUND")
def act(notice_id: str, action: str) -> object:
    """`withdraw` a notice (the stations drop it), or `publish` it again."""
    if action == "withdraw":
        row = service.withdraw(notice_id, actor=_actor())
    elif action == "publish":
        row = PublicNotice.get_or_none(PublicNotice.notice_id == notice_id)
    else:
        row = None
    if row is None:
        abort(404, message="no such notice or action")
    _publish(row)
    return _view(row)
