"""Exponential backoff with jitter, so a fleet does not reconnect in lockstep."""

from __future__ import annotations

import random


class Backoff:
    """Delays that double from ``initial`` up to ``maximum``, each scaled by a random jitter.

    "Full jitter" between ``(1 - jitter)`` and ``1`` times the exponential step spreads a
    fleet's retries after a broker restart instead of hammering it at the same instant.
    With ``spread``, the first retry instead waits ``initial`` plus anywhere from 0 to
    ``spread`` seconds: a whole fleet loses its link at the same instant when the broker
    restarts, and halving a 0.5 s step at most would still bring thousands of TLS handshakes
    within a quarter second (bench/city.py measures it). The ``initial`` floor leaves the
    server's workers, which retry every quarter second (contract.transport), the time to
    subscribe again before any station publishes: Mosquitto drops what is published to a
    shared subscription without members, and the station then waits for its ack timeout.
    """

    def __init__(
        self,
        initial: float = 0.5,
        maximum: float = 60.0,
        factor: float = 2.0,
        jitter: float = 0.5,
        rng: random.Random | None = None,
        spread: float = 0.0,
    ) -> None:
        if not 0 < initial <= maximum:
            raise ValueError("need 0 < initial <= maximum")
        if not 0 <= jitter < 1:
            raise ValueError("need 0 <= jitter < 1")
        self.initial = initial
        self.maximum = maximum
        self.factor = factor
        self.jitter = jitter
        if spread < 0:
            raise ValueError("need spread >= 0")
        self.spread = spread
        self._rng = rng or random.Random()
        self.attempts = 0

    def delay(self, attempts: int) -> float:
        """The delay before retry number ``attempts + 1`` (no state change)."""
        if attempts == 0 and self.spread:
            return self.initial + self._rng.uniform(0, self.spread)
        step = min(self.maximum, self.initial * self.factor ** min(attempts, 64))
        return step * (1 - self.jitter * self._rng.random())

    def next(self) -> float:
        """The next delay; each call backs off further."""
        value = self.delay(self.attempts)
        self.attempts += 1
        return value

    def reset(self) -> None:
        """Start again from ``initial`` (after a success)."""
        self.attempts = 0
