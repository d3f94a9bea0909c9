"""Logging operators in and out: one machine per account, abandoned sessions lock it.

The rules come from seed 003: an account is personal and logged in on one machine at a
time; a session that ends without a logout (the browser closed, the station powered off)
locks the account until an administrator unlocks it. A web page or a counter-mode kiosk
"touches" its session every few seconds; :func:`lock_abandoned` ends the ones that stopped.
Every function here is usable without a request (the kiosk services worker calls them); the
exceptions' messages are in the page's language, English msgids without a request.
"""

from __future__ import annotations

import functools
import hashlib
import secrets
from collections.abc import Callable, Collection
from datetime import UTC, datetime, timedelta

from flask import current_app, has_app_context
from flask_babel import gettext

from sync_server.audit import audit
from sync_server.db import utc_now, write_transaction
from sync_server.operators.models import ROLES, Operator, OperatorSession
from sync_server.records.passwords import hash_password, needs_rehash, verify_password

#: Seconds without a touch after which a live session counts as abandoned.
DEFAULT_ABANDON_S = 90.0
#: The audit actor of a failed login with a username no account has: the typed text is
#: attacker-controlled and never stored.
ANONYMOUS = "anonymous"


class OperatorError(Exception):
    """A login, logout or account change that cannot be done; the message says why."""


class BadCredentials(OperatorError, PermissionError):
    """Unknown username or wrong password (never said which)."""


class AccountLocked(OperatorError, PermissionError):
    """The account is locked until an administrator unlocks it."""


class AlreadyLoggedIn(OperatorError, PermissionError):
    """The account has a live session on a machine."""


class UnknownOperator(OperatorError, LookupError):
    """No operator with that username."""


def _hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _aware(value: datetime) -> datetime:
    # PostgreSQL timestamp columns read back naive; they were written as UTC.
    return value if value.tzinfo else value.replace(tzinfo=UTC)


@functools.cache
def dummy_password_hash() -> str:
    """An argon2id hash of a random password nobody knows, made once per process.

    A login for an unknown username is verified against it, so it costs the same argon2 work
    as a wrong password for a real account and timing does not tell usernames apart.
    """
    return hash_password(secrets.token_urlsafe(32))


def abandon_after() -> timedelta:
    """How long a session may go untouched (``SESSION_ABANDON_S`` in the config)."""
    seconds = DEFAULT_ABANDON_S
    if has_app_context():
        seconds = float(current_app.config.get("SESSION_ABANDON_S", DEFAULT_ABANDON_S))
    return timedelta(seconds=seconds)


def create_operator(
    username: str,
    password: str,
    role: str,
    *,
    must_change_password: bool = True,
    created_by: str = "cli",
    **profile: str,
) -> Operator:
    """A new account; the caller checked the password against the policy."""
    if role not in ROLES:
        raise OperatorError(
            gettext("Unknown role %(role)s; one of %(roles)s", role=role, roles=", ".join(ROLES))
        )
    if not username or not username.replace(".", "").replace("-", "").isalnum():
        raise OperatorError(gettext("A username is letters, digits, “.” and “-”"))
    with write_transaction():
        if Operator.get_or_none(Operator.username == username) is not None:
            raise OperatorError(gettext("The username %(username)s is taken", username=username))
        operator = Operator.create(
            username=username,
            password_hash=hash_password(password),
            role=role,
            must_change_password=must_change_password,
            **profile,
        )
        audit(created_by, "operator.create", username)
    return operator


def open_session(
    username: str,
    password: str,
    machine: str,
    *,
    roles: Collection[str] | None = None,
    clock: Callable[[], datetime] = utc_now,
) -> tuple[Operator, str]:
    """Log in on ``machine``; returns the operator and the session token (kept by the client).

    ``roles`` (None: any) are the roles this front end admits; a right password for another
    role is refused exactly like a wrong one, so the answer never tells that the password was
    right (the audit trail says ``wrong-role``).

    Raises :class:`BadCredentials`, :class:`AccountLocked` or :class:`AlreadyLoggedIn`.
    """
    lock_abandoned(now=clock())
    operator = Operator.get_or_none(Operator.username == username)
    if operator is None:
        verify_password(dummy_password_hash(), password)  # the same work as a real account
        audit(ANONYMOUS, "operator.login", machine[:64], "unknown-user")
        raise BadCredentials(gettext("Wrong username or password"))
    if not verify_password(operator.password_hash, password):
        audit(operator.username, "operator.login", machine[:64], "bad-credentials")
        raise BadCredentials(gettext("Wrong username or password"))
    if roles is not None and operator.role not in roles:
        audit(operator.username, "operator.login", machine[:64], "wrong-role")
        raise BadCredentials(gettext("Wrong username or password"))
    if operator.locked:
        audit(operator.username, "operator.login", machine[:64], "locked")
        raise AccountLocked(
            gettext(
                "The account is locked; ask an administrator (%(reason)s)",
                reason=operator.locked_reason,
            )
        )
    token = secrets.token_urlsafe(32)
    with write_transaction():
        live = OperatorSession.get_or_none(
            (OperatorSession.operator == operator) & OperatorSession.ended_at.is_null()
        )
        if live is None:
            _start(operator, token, machine, password, clock())
    if live is not None:  # audited outside the transaction, which wrote nothing
        audit(operator.username, "operator.login", machine[:64], "already-logged-in")
        raise AlreadyLoggedIn(
            gettext("This account is logged in on another machine; log out there first")
        )
    return operator, token


def _start(operator: Operator, token: str, machine: str, password: str, now: datetime) -> None:
    """Record the new session (inside the caller's transaction)."""
    OperatorSession.create(
        operator=operator,
        token_hash=_hash_token(token),
        machine=machine[:128],
        started_at=now,
        last_seen_at=now,
    )
    if needs_rehash(operator.password_hash):
        operator.password_hash = hash_password(password)
        operator.save()
    audit(operator.username, "operator.login", machine[:64])


def session_for(token: str | None) -> OperatorSession | None:
    """The live session of ``token``, or ``None`` (ended, unknown, or no token)."""
    if not token:
        return None
    return (
        OperatorSession.select(OperatorSession, Operator)
        .join(Operator)
        .where(
            (OperatorSession.token_hash == _hash_token(token)) & OperatorSession.ended_at.is_null()
        )
        .first()
    )


def touch(token: str, *, clock: Callable[[], datetime] = utc_now) -> bool:
    """Mark the session alive now; ``False`` when it has already ended."""
    updated = (
        OperatorSession.update(last_seen_at=clock())
        .where(
            (OperatorSession.token_hash == _hash_token(token)) & OperatorSession.ended_at.is_null()
        )
        .execute()
    )
    return updated == 1


def close_session(token: str, *, clock: Callable[[], datetime] = utc_now) -> bool:
    """Log out; ``False`` when there was no live session for ``token``."""
    with write_transaction():
        session = session_for(token)
        if session is None:
            return False
        session.ended_at = clock()
        session.end_reason = "logout"
        session.save()
        audit(session.operator.username, "operator.logout", session.machine[:64])
    return True


def lock_abandoned(now: datetime | None = None) -> list[str]:
    """End the sessions nobody touched for :func:`abandon_after` and lock their accounts.

    Returns the usernames locked. Safe to run from every web worker and a sweeper at once.
    """
    now = now or utc_now()
    cutoff = now - abandon_after()
    locked: list[str] = []
    with write_transaction():
        stale = list(
            OperatorSession.select(OperatorSession, Operator)
            .join(Operator)
            .where(OperatorSession.ended_at.is_null() & (OperatorSession.last_seen_at < cutoff))
        )
        for session in stale:
            session.ended_at = now
            session.end_reason = "abandoned"
            session.save()
            operator = session.operator
            operator.locked = True
            operator.locked_reason = "session ended without logout"
            operator.save()
            audit("system", "operator.lock", operator.username, "abandoned-session")
            locked.append(operator.username)
    return locked


def lock(username: str, *, by: str, reason: str = "locked by an administrator") -> None:
    """Lock an account and end its live session."""
    with write_transaction():
        operator = _get(username)
        operator.locked = True
        operator.locked_reason = reason[:128]
        operator.save()
        OperatorSession.update(ended_at=utc_now(), end_reason="locked").where(
            (OperatorSession.operator == operator) & OperatorSession.ended_at.is_null()
        ).execute()
        audit(by, "operator.lock", username)


def unlock(username: str, *, by: str) -> None:
    """Unlock an account (and end any session left open, so a fresh login is possible)."""
    with write_transaction():
        operator = _get(username)
        operator.locked = False
        operator.locked_reason = ""
        operator.save()
        OperatorSession.update(ended_at=utc_now(), end_reason="unlocked").where(
            (OperatorSession.operator == operator) & OperatorSession.ended_at.is_null()
        ).execute()
        audit(by, "operator.unlock", username)


def change_password(operator: Operator, current: str, new: str) -> None:
    """Replace the password after checking the current one (policy checked by the caller)."""
    if not verify_password(operator.password_hash, current):
        audit(operator.username, "operator.password", operator.username, "bad-current")
        raise BadCredentials(gettext("The current password is wrong"))
    operator.password_hash = hash_password(new)
    operator.must_change_password = False
    operator.password_changed_at = utc_now()
    operator.save()
    audit(operator.username, "operator.password", operator.username)


def _get(username: str) -> Operator:
    operator = Operator.get_or_none(Operator.username == username)
    if operator is None:
        raise UnknownOperator(f"no operator {username}")
    return operator


def last_seen(session: OperatorSession) -> datetime:
    """The session's last touch, timezone-aware."""
    return _aware(session.last_seen_at)


def assignable_officers() -> list[str]:
    """Usernames a petition can be assigned to: unlocked officers and administrators."""
    query = (
        Operator.select(Operator.username)
        .where(Operator.role.in_(("officer", "administrator")) & ~Operator.locked)
        .order_by(Operator.username)
    )
    return [operator.username for operator in query]
