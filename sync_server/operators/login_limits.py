"""How often anyone may try to log in as an operator, on every path.

The web login page counts per username and per address; the kiosk's counter mode
(``operator.login`` over MQTT) per username and per station. The per-username buckets are
shared by both paths (same limiter key), so an attacker does not get one budget per path.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from datetime import datetime, timedelta

from sync_server.db import utc_now
from sync_server.ratelimit import Limit, RateLimiter

LOGIN_PER_USERNAME = Limit("login-user", 10, timedelta(minutes=15))
LOGIN_PER_ADDRESS = Limit("login-ip", 30, timedelta(minutes=15))
LOGIN_PER_STATION = Limit("login-station", 10, timedelta(minutes=15))


def login_limiter(secret: bytes, clock: Callable[[], datetime] = utc_now) -> RateLimiter:
    """The limiter every login path uses, under a subkey of the server's ``SECRET_KEY``."""
    return RateLimiter(hashlib.sha256(b"dcs-login\0" + secret).digest(), clock)


def count_login_attempt(
    limiter: RateLimiter, username: str, origin_limit: Limit, origin: str
) -> None:
    """Count one try for ``username`` from ``origin`` (an address or a station), or raise
    ``RateLimitedError`` before any password is checked."""
    limiter.hit([(LOGIN_PER_USERNAME, username.strip().lower()), (origin_limit, origin)])
