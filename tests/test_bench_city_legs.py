"""bench/city_legs.py: each live lookup set beside when a bystander saw it pass the broker."""

from __future__ import annotations

import pytest

from bench.city_legs import lookup_legs
from contract.topics import STATIONS


def _seen(at: float, station: str, reply: bool = False) -> list:
    return [at, f"{STATIONS}/{station}/lookup" + ("/reply" if reply else "")]


def test_each_lookup_gets_its_own_request_and_reply_in_order():
    asks = [
        ["k0001", 20.0, 25.0, "timeout"],  # asked second: listed out of order on purpose
        ["k0001", 10.0, 10.1, "ok"],
        ["k0002", 11.0, 16.0, "timeout"],
    ]
    seen = [
        _seen(20.5, "k0001", reply=True),
        _seen(10.01, "k0001"),
        _seen(10.05, "k0001", reply=True),
        _seen(20.02, "k0001"),
        _seen(11.2, "k0002"),  # its reply never passed the broker
    ]
    first, second, third = lookup_legs(asks, seen)
    assert (first.asked, first.request_seen, first.reply_seen) == (10.0, 10.01, 10.05)
    assert first.to_broker == pytest.approx(0.01)
    assert first.through_server == pytest.approx(0.04)
    assert first.back == pytest.approx(0.05)
    assert (third.asked, third.reply_seen) == (20.0, 20.5)
    assert third.through_server == pytest.approx(0.48)
    assert third.back is None  # timed out: the kiosk had stopped waiting
    assert (second.request_seen, second.reply_seen, second.through_server) == (11.2, None, None)


def test_a_request_the_bystander_never_saw_has_no_legs():
    [leg] = lookup_legs([["k0003", 5.0, 10.0, "timeout"]], [_seen(4.0, "k0003")])
    assert leg.request_seen is None and leg.to_broker is None and leg.through_server is None
