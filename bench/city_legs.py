"""Where a live lookup's time went during ``bench/city.py``, leg by leg.

A bystander subscriber (``bench/proc.py watch``, a connection and a process of its own)
notes when each lookup request and each reply passes the broker; with the time each prober
asked and got its answer (``bench/city_lookups.py``), on one monotonic clock, every lookup
splits into kiosk → broker, broker → lookup process → broker, and broker → kiosk.
"""

from __future__ import annotations

from dataclasses import dataclass

from bench.common import percentile
from contract.topics import STATIONS


@dataclass(frozen=True)
class Leg:
    """Where one live lookup's time went, from when a bystander saw it pass the broker.

    ``request_seen`` / ``reply_seen``: when the bystander (bench/proc.py ``watch``, a
    connection of its own) got the request and the reply; ``None`` when it never did.
    """

    asked: float
    ended: float
    status: str
    request_seen: float | None
    reply_seen: float | None

    @property
    def to_broker(self) -> float | None:
        """Kiosk → broker (→ bystander)."""
        return None if self.request_seen is None else self.request_seen - self.asked

    @property
    def through_server(self) -> float | None:
        """Broker → lookup process → broker: the server's part."""
        if self.request_seen is None or self.reply_seen is None:
            return None
        return self.reply_seen - self.request_seen

    @property
    def back(self) -> float | None:
        """Broker → kiosk, for an answered lookup."""
        if self.reply_seen is None or self.status != "ok":
            return None
        return self.ended - self.reply_seen


def lookup_legs(asks: list[list], seen: list[list]) -> list[Leg]:
    """Each prober's lookups beside when the bystander saw its request and reply.

    A prober asks at most twice (``bench.city_lookups.PER_STATION``), so a request is the
    first one of its station seen from when it was asked, and its reply the first after it.
    """
    requests: dict[str, list[float]] = {}
    replies: dict[str, list[float]] = {}
    for at, topic in sorted(seen):
        station = topic.removeprefix(STATIONS + "/").split("/")[0]
        (replies if topic.endswith("/reply") else requests).setdefault(station, []).append(at)
    legs = []
    for station, asked, ended, status in sorted(asks, key=lambda ask: ask[1]):
        # Clocks are one (monotonic); 10 ms of slack for the prober noting "asked" after
        # paho already wrote the request.
        request = next((t for t in requests.get(station, []) if t >= asked - 0.01), None)
        reply = None
        if request is not None:
            requests[station].remove(request)
            reply = next((t for t in replies.get(station, []) if t >= request), None)
            if reply is not None:
                replies[station].remove(reply)
        legs.append(Leg(asked, ended, status, request, reply))
    return legs


def legs_line(legs: list[Leg]) -> str:
    """p50 / p95 of each leg of ``legs``, one line."""

    def p(values: list[float], share: float) -> str:
        return f"{percentile(values, share) * 1000:.0f}" if values else "-"

    parts = []
    for name in ("to_broker", "through_server", "back"):
        values = [v for v in (getattr(leg, name) for leg in legs) if v is not None]
        parts.append(f"{name.replace('_', ' ')} p50/p95 {p(values, 0.5)}/{p(values, 0.95)} ms")
    return "; ".join(parts)
