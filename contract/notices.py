"""Public notices (seed 002: "security and order information"), retained on the broker.

Operations publish a notice for every station, one district, or named buildings. Each lives
as one **retained** message per target topic, so a station that connects later, or comes
back after a week offline, gets it at once; the message expires on the broker when the
notice ends (MQTT 5 message expiry). Topics sit outside the stations' own subtrees:

- ``dcs/v1/notices/all/<notice_id>``
- ``dcs/v1/notices/district/<district>/<notice_id>``
- ``dcs/v1/notices/building/<building>/<notice_id>``

A station subscribes to the first and to its own district's and building's (the broker ACL
lets stations read ``dcs/v1/notices/#`` and nothing there is personal). Every notice is signed
by the server's Ed25519 key like a command (``command_seal``), under its own context, and names
its targets, so a station shows only what the server said, to whom it said it: a notice
copied to another building's topic is refused there. Withdrawing publishes the same notice
with ``withdrawn`` set (signed too), retained until it would have ended.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

import msgspec
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from contract.codec import to_builtins
from contract.errors import ContractError
from contract.messages import BuildingId, Message
from contract.topics import ROOT

NOTICES = f"{ROOT}/notices"
CONTEXT = b"dcs/v1 notice\x00"
LANGUAGES = ("th", "vi", "en")

NoticeId = Annotated[str, msgspec.Meta(pattern=r"^[0-9a-f]{32}$")]
#: A district code, the same shape as a building code (``bang-kapi``, ``district-1``).
DistrictId = BuildingId
AwareDatetime = Annotated[datetime, msgspec.Meta(tz=True)]
Scope = Literal["all", "district", "buildings"]


class NoticeText(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """A notice in one language."""

    title: Annotated[str, msgspec.Meta(min_length=1, max_length=120)]
    body: Annotated[str, msgspec.Meta(max_length=1000)] = ""


class Notice(Message, kw_only=True):
    """One notice; ``texts`` has th, vi and en. Shown while ``starts_at <= now < ends_at``."""

    notice_id: NoticeId
    scope: Scope
    district: DistrictId | None = None
    buildings: Annotated[list[BuildingId], msgspec.Meta(max_length=50)] = msgspec.field(
        default_factory=list
    )
    starts_at: AwareDatetime
    ends_at: AwareDatetime
    texts: dict[Literal["th", "vi", "en"], NoticeText]
    issued_at: AwareDatetime
    withdrawn: bool = False
    signature: Annotated[bytes, msgspec.Meta(max_length=64)] | None = None


class NoticeSealError(ContractError):
    """A notice is unsigned, not the server's, or not for this station."""


def notice_topics(notice: Notice) -> list[str]:
    """The retained topics that carry ``notice`` (one per building for ``buildings``)."""
    if notice.scope == "all":
        return [f"{NOTICES}/all/{notice.notice_id}"]
    if notice.scope == "district":
        if notice.district is None:
            raise ValueError("a district notice names its district")
        return [f"{NOTICES}/district/{notice.district}/{notice.notice_id}"]
    if not notice.buildings:
        raise ValueError("a buildings notice names at least one building")
    return [f"{NOTICES}/building/{b}/{notice.notice_id}" for b in notice.buildings]


def station_filters(district: str | None, building: str | None) -> list[str]:
    """What a station in ``district`` and ``building`` subscribes to."""
    filters = [f"{NOTICES}/all/+"]
    if district:
        filters.append(f"{NOTICES}/district/{district}/+")
    if building:
        filters.append(f"{NOTICES}/building/{building}/+")
    return filters


def is_for(notice: Notice, district: str | None, building: str | None) -> bool:
    """Whether ``notice`` targets a station in ``district`` and ``building``."""
    if notice.scope == "all":
        return True
    if notice.scope == "district":
        return district is not None and notice.district == district
    return building is not None and building in notice.buildings


def _signed_bytes(fields: dict[str, Any]) -> bytes:
    unsigned = {name: value for name, value in fields.items() if name != "signature"}
    return CONTEXT + msgspec.json.encode(unsigned, order="sorted")


def sign_notice(notice: Notice, key: Ed25519PrivateKey) -> Notice:
    """A copy of ``notice`` carrying the server's signature."""
    return msgspec.structs.replace(notice, signature=key.sign(_signed_bytes(to_builtins(notice))))


def verify_notice(
    payload: bytes,
    notice: Notice,
    *,
    server_public: Ed25519PublicKey,
    district: str | None,
    building: str | None,
) -> None:
    """Check that ``notice`` (decoded from ``payload``) is the server's and for this station.

    The signature covers the fields as they arrived, so a field added later is covered
    without breaking older stations. Raises :class:`NoticeSealError`.
    """
    if notice.signature is None:
        raise NoticeSealError("notice is not signed")
    try:
        server_public.verify(notice.signature, _signed_bytes(msgspec.json.decode(payload)))
    except InvalidSignature:
        raise NoticeSealError("notice is not signed by the server's key") from None
    if not is_for(notice, district, building):
        raise NoticeSealError("notice is not for this station")
    if notice.ends_at <= notice.starts_at:
        raise NoticeSealError("notice ends before it starts")
