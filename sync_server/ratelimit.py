"""A small rate limiter kept in the database, so it holds across gunicorn workers.

Each allowed request is a row (``RateLimitHit``: bucket, time); a request is refused when
its bucket already has ``max_hits`` rows inside the window. Buckets are named by a keyed
hash of what they limit (a phone number, an IP address), so neither is stored in clear.
Checking and recording happen in one transaction that holds the buckets' lock (SQLite:
``BEGIN IMMEDIATE``; PostgreSQL: transaction-scoped advisory locks), so two workers cannot
both take the last slot.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import peewee

from sync_server.db import BaseModel, database, utc_now, write_transaction

#: Rows older than this are deleted as new hits arrive; no window may be longer.
MAX_WINDOW = timedelta(days=1)


class RateLimitHit(BaseModel):
    """One allowed request in one bucket."""

    id = peewee.BigAutoField()
    bucket = peewee.CharField(max_length=64)
    at = peewee.DateTimeField(index=True)

    class Meta:
        indexes = ((("bucket", "at"), False),)


@dataclass(frozen=True)
class Limit:
    """At most ``max_hits`` requests per ``window`` for one value of ``name``."""

    name: str
    max_hits: int
    window: timedelta

    def __post_init__(self) -> None:
        if not 0 < len(self.name) <= 20 or ":" in self.name:
            raise ValueError("a limit's name is 1-20 characters without ':'")
        if self.max_hits < 1 or not timedelta(0) < self.window <= MAX_WINDOW:
            raise ValueError("a limit allows at least one hit in a window of at most a day")


class RateLimitedError(Exception):
    """Too many requests; ``retry_after_s`` says when the oldest counted one expires."""

    def __init__(self, limit: Limit, retry_after_s: float) -> None:
        super().__init__(f"rate limit {limit.name} reached ({limit.max_hits} per {limit.window})")
        self.limit = limit
        self.retry_after_s = retry_after_s


def _aware(value: datetime) -> datetime:
    # PostgreSQL's timestamp columns read back naive; they were written as UTC.
    return value if value.tzinfo else value.replace(tzinfo=UTC)


class RateLimiter:
    """Counts hits per bucket in the database; see the module docstring."""

    def __init__(self, secret: bytes, clock: Callable[[], datetime] = utc_now) -> None:
        self._secret = secret
        self._clock = clock

    def bucket(self, limit: Limit, value: str) -> str:
        """The stored name of ``value``'s bucket under ``limit`` (keyed hash, not the value)."""
        digest = hmac.new(self._secret, f"{limit.name}:{value}".encode(), hashlib.sha256)
        return f"{limit.name}:{digest.hexdigest()[:40]}"

    def hit(self, checks: Sequence[tuple[Limit, str]]) -> None:
        """Count one request against every ``(limit, value)``, or raise :class:`RateLimitedError`.

        All or nothing: when any limit is reached, no hit is recorded in any bucket.
        """
        now = self._clock()
        buckets = [(limit, self.bucket(limit, value)) for limit, value in checks]
        db = database.obj
        with write_transaction(db):
            if isinstance(db, peewee.PostgresqlDatabase):
                # Always in the same order, so two requests never wait on each other's locks.
                for key in sorted({_lock_key(name) for _, name in buckets}):
                    db.execute_sql("SELECT pg_advisory_xact_lock(%s)", (key,))
            RateLimitHit.delete().where(RateLimitHit.at < now - MAX_WINDOW).execute()
            for limit, name in buckets:
                recent = (
                    RateLimitHit.select(RateLimitHit.at)
                    .where((RateLimitHit.bucket == name) & (RateLimitHit.at > now - limit.window))
                    .order_by(RateLimitHit.at)
                )
                times = [_aware(row.at) for row in recent]
                if len(times) >= limit.max_hits:
                    oldest = times[len(times) - limit.max_hits]
                    retry_after = (oldest + limit.window - now).total_seconds()
                    raise RateLimitedError(limit, max(retry_after, 0.0))
            RateLimitHit.insert_many([{"bucket": name, "at": now} for _, name in buckets]).execute()

    def remaining(self, limit: Limit, value: str) -> int:
        """How many more requests ``value`` may make under ``limit`` right now."""
        now = self._clock()
        used = (
            RateLimitHit.select()
            .where(
                (RateLimitHit.bucket == self.bucket(limit, value))
                & (RateLimitHit.at > now - limit.window)
            )
            .count()
        )
        return max(limit.max_hits - used, 0)

    def forget(self, limits: Sequence[Limit], value: str) -> int:
        """Drop every counted hit of ``value`` under ``limits`` (a person forgave them)."""
        buckets = [self.bucket(limit, value) for limit in limits]
        with write_transaction(database.obj):
            return RateLimitHit.delete().where(RateLimitHit.bucket.in_(buckets)).execute()


def _lock_key(bucket: str) -> int:
    """A signed 64-bit advisory-lock key for ``bucket``."""
    return int.from_bytes(hashlib.sha256(bucket.encode()).digest()[:8], "big", signed=True)
