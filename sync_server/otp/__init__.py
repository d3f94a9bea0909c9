"""One-time codes sent by SMS: issue, verify, and the rules that keep them safe.

- 6 digits from :mod:`secrets`, sent from ``OSS-LOCAL``; valid for 5 minutes; single use.
- 3 wrong codes burn the ticket; a new code for the same number and purpose supersedes the
  previous one.
- At most 3 codes per number and purpose per 15 minutes, and 10 per number per hour over all
  purposes (:mod:`sync_server.ratelimit`, so it holds across workers).
- Stored as HMAC-SHA256 under the app's secret, bound to the ticket, its purpose and, when
  the caller names one, its *subject* (what the code was sent for: an account, a petition);
  the number is stored only as a keyed hash. Compared in constant time. A code issued for
  one subject never verifies another, so a code received on one's own phone cannot be
  replayed against somebody else's account (the subject lives only inside the hash: no
  column holds it).
- Each issue and verification leaves an ``AuditEvent`` naming the ticket, never the code or
  the number.

Other code calls :func:`issue_otp` and :func:`verify_otp` inside the Flask app, or builds an
:class:`OtpService` (the ingest workers, tests with their own clock). See docs/backoffice.md.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from flask import Flask, current_app

from contract.identifiers import is_valid_thai_mobile
from sync_server.audit import audit
from sync_server.db import database, utc_now, write_transaction
from sync_server.i18n import N_, resolve_language, sms_text
from sync_server.otp.models import OtpCode
from sync_server.ratelimit import Limit, RateLimitedError, RateLimiter
from sync_server.sms import DEFAULT_SENDER, SmsGateway, check_number, gateway_from_config
from sync_server.sms.outbox import SENT, Outbox, enqueue, register_template

log = logging.getLogger(__name__)

#: How long a code's row is kept after it was issued.
RETENTION = timedelta(days=1)
#: What a code may be used for; a code issued for one purpose never verifies another.
PURPOSES = ("tracking", "kiosk_password_reset", "eid_register", "petition")

#: The SMS text per purpose (msgids, sent in the reader's language); ``%(code)s`` and
#: ``%(minutes)s`` are filled in.
MESSAGES = {
    "tracking": N_("Tracking code: %(code)s, valid %(minutes)s min. Do not share it."),
    "kiosk_password_reset": N_(
        "Password reset code: %(code)s, valid %(minutes)s min. Do not share it."
    ),
    "eid_register": N_(
        "Digital ID registration code: %(code)s, valid %(minutes)s min. Do not share it."
    ),
    "petition": N_("Petition code: %(code)s, valid %(minutes)s min. Do not share it."),
}


CODE_TEMPLATE = "otp.code"


def _code_text(params: Mapping[str, Any], language: str, config: Mapping[str, Any]) -> str:
    return sms_text(
        MESSAGES[params["purpose"]], language, code=params["code"], minutes=params["minutes"]
    )


register_template(CODE_TEMPLATE, _code_text, retry=False)


class OtpError(Exception):
    """Root of the OTP errors."""


class OtpExpiredError(OtpError):
    """No live code: it expired, was used, was superseded, or never existed.

    ``reason`` is one of ``expired``, ``used``, ``superseded``, ``unknown`` (for logs and
    tests; a citizen is told only to ask for a new code).
    """

    def __init__(self, reason: str) -> None:
        super().__init__(f"no live code ({reason})")
        self.reason = reason


class OtpAttemptsExceededError(OtpError):
    """Too many wrong codes: this code is burnt; ask for a new one."""


class OtpRateLimitedError(OtpError):
    """Too many codes asked for this number; ``retry_after_s`` says when one more is allowed."""

    def __init__(self, retry_after_s: float) -> None:
        super().__init__(f"too many codes requested; retry in {retry_after_s:.0f} s")
        self.retry_after_s = retry_after_s


class OtpDeliveryError(OtpError):
    """The code was issued but the SMS gateway did not take it."""


@dataclass(frozen=True)
class OtpPolicy:
    """The OTP rules (``OTP_*`` in the server config)."""

    ttl: timedelta = timedelta(minutes=5)
    max_attempts: int = 3
    per_purpose_limit: int = 3
    per_purpose_window: timedelta = timedelta(minutes=15)
    per_number_limit: int = 10
    per_number_window: timedelta = timedelta(hours=1)

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> OtpPolicy:
        """The policy with any ``OTP_*`` keys of ``config`` applied."""
        return cls(
            ttl=timedelta(seconds=float(config.get("OTP_TTL_S", 300))),
            max_attempts=int(config.get("OTP_MAX_ATTEMPTS", 3)),
            per_purpose_limit=int(config.get("OTP_PER_PURPOSE_LIMIT", 3)),
            per_purpose_window=timedelta(
                seconds=float(config.get("OTP_PER_PURPOSE_WINDOW_S", 900))
            ),
            per_number_limit=int(config.get("OTP_PER_NUMBER_LIMIT", 10)),
            per_number_window=timedelta(seconds=float(config.get("OTP_PER_NUMBER_WINDOW_S", 3600))),
        )


@dataclass(frozen=True)
class OtpTicket:
    """What the caller keeps after a code is issued: the ticket id to verify against.

    ``sms_id`` is the gateway's message id (None for a decoy, which sends nothing).
    """

    id: str
    purpose: str
    expires_at: datetime
    sms_id: str | None


def _aware(value: datetime) -> datetime:
    # PostgreSQL's timestamp columns read back naive; they were written as UTC.
    return value if value.tzinfo else value.replace(tzinfo=UTC)


class OtpService:
    """Issues and verifies codes; one per app (see :func:`init_app`) or per worker process."""

    def __init__(
        self,
        secret: bytes,
        gateway: SmsGateway,
        policy: OtpPolicy | None = None,
        *,
        sender: str = DEFAULT_SENDER,
        clock: Callable[[], datetime] = utc_now,
        language: str | None = None,
    ) -> None:
        if not secret:
            raise ValueError("the OTP service needs a secret")
        self._secret = hashlib.sha256(b"dcs-otp\0" + secret).digest()  # our own subkey
        self.gateway = gateway
        self.policy = policy or OtpPolicy()
        self.sender = sender
        self.clock = clock
        self.outbox = Outbox(gateway, {}, clock=clock)
        #: The texts' language when the caller does not know the reader's.
        self.language = resolve_language(language)
        self.limiter = RateLimiter(self._secret, clock)
        self._limits = (
            Limit("otp-purpose", self.policy.per_purpose_limit, self.policy.per_purpose_window),
            Limit("otp-number", self.policy.per_number_limit, self.policy.per_number_window),
        )

    # -- hashing -------------------------------------------------------------------------

    def _phone_key(self, phone: str) -> str:
        return hmac.new(self._secret, b"phone:" + phone.encode(), hashlib.sha256).hexdigest()

    def _code_hash(self, ticket_id: str, purpose: str, code: str, subject: str | None) -> str:
        if subject is None:
            message = f"code:{ticket_id}:{purpose}:{code}"
        else:
            # The subject is hashed first so that its text (attacker-typed at verify time)
            # cannot shift the fields; the distinct prefix keeps the two forms apart.
            subject_key = hmac.new(
                self._secret, b"subject:" + subject.encode(), hashlib.sha256
            ).hexdigest()
            message = f"code-for:{subject_key}:{ticket_id}:{purpose}:{code}"
        return hmac.new(self._secret, message.encode(), hashlib.sha256).hexdigest()

    # -- issue ---------------------------------------------------------------------------

    def issue(
        self,
        phone: str,
        purpose: str,
        *,
        language: str | None = None,
        subject: str | None = None,
    ) -> OtpTicket:
        """Issue a code for ``phone`` and ``purpose`` and send it by SMS in ``language``
        (None: the service's default language).

        ``subject`` names what the code is for (see :func:`subject_of`); the code then
        verifies only when :meth:`verify` is given the same subject.

        Raises :class:`OtpRateLimitedError` before anything is sent when the number asked
        too often, :class:`OtpDeliveryError` when the gateway refused the SMS (the ticket
        exists and counts against the limits, so failures cannot be used to flood).
        """
        check_number(phone)
        _check_purpose(purpose)
        try:
            self.limiter.hit([(self._limits[0], f"{phone}:{purpose}"), (self._limits[1], phone)])
        except RateLimitedError as exc:
            self._audit("otp.issue", None, purpose, "rate_limited")
            raise OtpRateLimitedError(exc.retry_after_s) from None
        code = f"{secrets.randbelow(1_000_000):06d}"
        ticket, message_id = self._create(
            self._phone_key(phone),
            purpose,
            code,
            phone=phone,
            language=language or self.language,
            subject=subject,
        )
        # The code is only worth sending now: one attempt (the driver's own retries included),
        # never queued for later; the outbox row is final either way and keeps no code.
        delivered = self.outbox.deliver_now([message_id])
        if not delivered or delivered[0].state != SENT:
            self._audit("otp.issue", ticket.id, purpose, "sms_failed")
            raise OtpDeliveryError("the code could not be sent by SMS")
        self._audit("otp.issue", ticket.id, purpose, "sent")
        return OtpTicket(ticket.id, purpose, ticket.expires_at, delivered[0].gateway_id)

    def issue_decoy(self, purpose: str) -> OtpTicket:
        """A ticket whose code nobody knows and no SMS carries.

        For pages that must answer a wrong number exactly as a right one (no enumeration):
        verifying it behaves like a real ticket (wrong code, attempts, burning).
        """
        _check_purpose(purpose)
        ticket, _ = self._create(secrets.token_hex(32), purpose, secrets.token_hex(16))
        self._audit("otp.issue", ticket.id, purpose, "decoy")
        return OtpTicket(ticket.id, purpose, ticket.expires_at, None)

    def _create(
        self,
        phone_key: str,
        purpose: str,
        code: str,
        *,
        phone: str | None = None,
        language: str | None = None,
        subject: str | None = None,
    ) -> tuple[OtpCode, int | None]:
        """The ticket, and with ``phone`` its SMS queued in the same transaction."""
        now = self.clock()
        ticket_id = secrets.token_hex(16)
        with write_transaction(database.obj):
            # Codes live minutes; their rows a day (the audit trail keeps the rest).
            OtpCode.delete().where(OtpCode.issued_at < now - RETENTION).execute()
            OtpCode.update(closed="superseded", closed_at=now).where(
                (OtpCode.phone_key == phone_key)
                & (OtpCode.purpose == purpose)
                & OtpCode.closed.is_null()
            ).execute()
            ticket = OtpCode.create(
                id=ticket_id,
                phone_key=phone_key,
                purpose=purpose,
                code_hash=self._code_hash(ticket_id, purpose, code, subject),
                issued_at=now,
                expires_at=now + self.policy.ttl,
            )
            message_id = None
            if phone is not None:
                message_id = enqueue(
                    phone,
                    CODE_TEMPLATE,
                    {"purpose": purpose, "code": code, "minutes": self._ttl_minutes()},
                    language=language,
                    expires_at=ticket.expires_at,
                    sender=self.sender,
                    dedupe_key=f"otp:{ticket_id}",
                    now=now,
                )
            return ticket, message_id

    def _ttl_minutes(self) -> int:
        return max(1, round(self.policy.ttl.total_seconds() / 60))

    # -- verify --------------------------------------------------------------------------

    def verify(
        self,
        purpose: str,
        code: str,
        *,
        ticket_id: str | None = None,
        phone: str | None = None,
        subject: str | None = None,
    ) -> bool:
        """True when ``code`` is the live code of the ticket (or of the number's latest one)
        and ``subject`` is the one the code was issued for (a different subject is a wrong
        code: it counts as an attempt).

        A right code closes the ticket (single use). A wrong code returns False while tries
        remain; the last allowed wrong code burns the ticket and raises
        :class:`OtpAttemptsExceededError`. :class:`OtpExpiredError` when there is no live code.
        """
        _check_purpose(purpose)
        if (ticket_id is None) == (phone is None):
            raise ValueError("give exactly one of ticket_id and phone")
        now = self.clock()
        with write_transaction(database.obj):
            row = self._find(purpose, ticket_id, phone)
            outcome = self._check(row, purpose, code, now, subject)
            if row is not None:
                ticket_id = row.id
            self._audit("otp.verify", ticket_id, purpose, outcome)
        if outcome == "ok":
            return True
        if outcome == "wrong":
            return False
        if outcome == "burnt":
            raise OtpAttemptsExceededError("too many wrong codes; ask for a new one")
        raise OtpExpiredError(outcome)

    def _check(
        self, row: OtpCode | None, purpose: str, code: str, now: datetime, subject: str | None
    ) -> str:
        """Check ``code`` against ``row``, record the result; return the outcome's name."""
        if row is None:
            return "unknown"
        if row.closed is not None:
            return row.closed  # used, burnt or superseded
        if _aware(row.expires_at) <= now:
            return "expired"
        given = code.strip() if isinstance(code, str) else ""
        expected = self._code_hash(row.id, purpose, given, subject)
        if hmac.compare_digest(expected, row.code_hash):
            # Conditional update: of two workers verifying at once, exactly one wins.
            won = (
                OtpCode.update(closed="used", closed_at=now)
                .where((OtpCode.id == row.id) & OtpCode.closed.is_null())
                .execute()
            )
            return "ok" if won else "used"
        burnt = row.attempts + 1 >= self.policy.max_attempts
        changes: dict[Any, Any] = {OtpCode.attempts: OtpCode.attempts + 1}
        if burnt:
            changes.update({OtpCode.closed: "burnt", OtpCode.closed_at: now})
        OtpCode.update(changes).where((OtpCode.id == row.id) & OtpCode.closed.is_null()).execute()
        return "burnt" if burnt else "wrong"

    def attempts_left(self, ticket_id: str) -> int:
        """How many more wrong codes the ticket takes before it burns (0 when closed)."""
        row = OtpCode.get_or_none(OtpCode.id == ticket_id)
        if row is None or row.closed is not None:
            return 0
        return max(self.policy.max_attempts - row.attempts, 0)

    def _find(self, purpose: str, ticket_id: str | None, phone: str | None) -> OtpCode | None:
        query = OtpCode.select().where(OtpCode.purpose == purpose)
        if database.obj.for_update:
            # PostgreSQL: hold the row, so concurrent tries are counted one after another
            # (SQLite's BEGIN IMMEDIATE already serializes them).
            query = query.for_update()
        if ticket_id is not None:
            return query.where(OtpCode.id == ticket_id).first()
        return (
            query.where(OtpCode.phone_key == self._phone_key(phone))
            .order_by(OtpCode.issued_at.desc())
            .first()
        )

    def _audit(self, action: str, ticket_id: str | None, purpose: str, outcome: str) -> None:
        subject = f"otp:{ticket_id}" if ticket_id else f"otp:{purpose}"
        audit(f"otp:{purpose}", action, subject, outcome)


def subject_of(*parts: str) -> str:
    """The subject string for a code sent about ``parts`` (e.g. an account's insurance number,
    citizen id and phone): unambiguous whatever the parts contain."""
    return json.dumps(list(parts), ensure_ascii=False)


def _check_purpose(purpose: str) -> None:
    if purpose not in PURPOSES:
        raise ValueError(f"unknown OTP purpose {purpose!r}; one of {', '.join(PURPOSES)}")


# -- the Flask app's service ---------------------------------------------------------------

_EXTENSION = "dcs_otp"


def service_from_config(config: Mapping[str, Any], gateway: SmsGateway | None = None) -> OtpService:
    """An :class:`OtpService` for a server config (its ``SECRET_KEY``, SMS and ``OTP_*``)."""
    secret = config.get("SECRET_KEY")
    if not secret:
        raise ValueError("SECRET_KEY is needed to hash one-time codes")
    return OtpService(
        secret.encode() if isinstance(secret, str) else bytes(secret),
        gateway or gateway_from_config(config),
        OtpPolicy.from_config(config),
        sender=str(config.get("SMS_SENDER") or DEFAULT_SENDER),
        language=config.get("DEFAULT_LANGUAGE"),
    )


def init_app(app: Flask) -> None:
    """Register the OTP service; it is built on first use from the app's config and SMS driver
    (so a test app without a ``SECRET_KEY`` still starts)."""
    app.extensions[_EXTENSION] = None


def otp_service() -> OtpService:
    """The current app's OTP service."""
    service = current_app.extensions.get(_EXTENSION)
    if service is None:
        service = service_from_config(current_app.config, current_app.extensions["dcs_sms"])
        current_app.extensions[_EXTENSION] = service
    return service


def issue_otp(
    phone: str, purpose: str, language: str | None = None, *, subject: str | None = None
) -> OtpTicket:
    """Issue and send a code with the current app's service; see :meth:`OtpService.issue`."""
    return otp_service().issue(phone, purpose, language=language, subject=subject)


def verify_otp(
    ticket_or_phone: str, purpose: str, code: str, *, subject: str | None = None
) -> bool:
    """Verify against a ticket id, or against a number's latest code (a Thai mobile number).

    See :meth:`OtpService.verify` for ``subject`` and the exceptions.
    """
    if is_valid_thai_mobile(ticket_or_phone):
        return otp_service().verify(purpose, code, phone=ticket_or_phone, subject=subject)
    return otp_service().verify(purpose, code, ticket_id=ticket_or_phone, subject=subject)
