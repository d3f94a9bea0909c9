"""One resident's visit to the kiosk: the card's data, the record, the flow in progress.

Personal data lives only in a :class:`Visit`, only in memory, and only while the card is
in: removing the card, an idle timeout or the resident's "finish" drops the visit and
everything in it. A visit is named by a random token (never personal); every page and form
carries it, so a page or a form left over from an earlier visit is refused. The token is a
capability (it posts the visit's forms and fetches its photo), so the event stream names
the visit by :attr:`Visit.public_id` instead.
"""

from __future__ import annotations

import hashlib
import secrets
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Literal

from device.kiosk.lookup import RecordView
from hardware.card import ThaiIdCard

VisitState = Literal["open", "reading", "ready", "card_error", "ended"]


@dataclass(repr=False)
class Visit:
    """A visit with a card (``card_visit``) or without (a petition, tracking by number)."""

    token: str
    card_visit: bool
    state: VisitState
    started_at: float
    last_activity: float
    card: ThaiIdCard | None = None
    photo: bytes | None = None
    record: RecordView | None = None
    #: Why the card could not be read (a code the screen translates).
    error: str | None = None
    #: Why an ended visit ended ("timeout" or "finished"), for the home screen to say.
    end_reason: str | None = None
    #: "More time": every timeout of the visit is this many times the configured one.
    patience: int = 1
    #: Each flow's progress (petition form, OTP ticket...), dropped with the visit.
    flows: dict[str, dict[str, Any]] = field(default_factory=dict)
    ready: threading.Event = field(default_factory=threading.Event)

    @classmethod
    def new(cls, *, card_visit: bool, clock: float | None = None) -> Visit:
        """A fresh visit: reading a card, or open (no card)."""
        now = time.monotonic() if clock is None else clock
        return cls(
            token=secrets.token_urlsafe(16),
            card_visit=card_visit,
            state="reading" if card_visit else "open",
            started_at=now,
            last_activity=now,
        )

    @property
    def public_id(self) -> str:
        """Names the visit on the event stream, which any page may open. A one-way hash of
        the token: a page can tell whether the visit is still its own, but cannot use it to
        post forms, extend or end the visit, or fetch the card's photo."""
        return hashlib.sha256(self.token.encode()).hexdigest()[:16]

    @property
    def has_personal_data(self) -> bool:
        """True while the visit holds anything about the resident."""
        return self.card is not None or self.record is not None or bool(self.flows)

    def forget(self) -> None:
        """Drop every piece of personal data (the visit object may outlive this call)."""
        self.card = None
        self.photo = None
        self.record = None
        self.flows.clear()
        self.ready.set()  # nobody waits for data that will not come

    def __repr__(self) -> str:
        return f"Visit(state={self.state!r}, card_visit={self.card_visit})"
