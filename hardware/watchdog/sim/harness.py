"""Test harness run inside MicroPython (WebAssembly) by run.mjs.

Wires the real firmware (main.make_pin, watchdog_logic) to the stub ``machine`` pin, a tick
clock that only moves when told to, and a state file that run.mjs mirrors to the host, then
executes the commands run.mjs passes on. Board output goes to stdout as ``< line``; harness
answers as ``@name json``.
"""

import binascii
import json
import time

import machine
import main
import watchdog_logic

STATE_FILE = "/flash/watchdog_state.txt"

wd = None
clock = None
pin = None


class SimClock:
    """A ticks_ms source that advances only when the test says so (in the board's own
    wrapping tick arithmetic, via time.ticks_add), plus a plain elapsed-ms counter."""

    def __init__(self, start):
        self.ticks = start
        self.elapsed = 0

    def ticks_ms(self):
        return self.ticks

    def advance(self, ms):
        self.ticks = time.ticks_add(self.ticks, ms)
        self.elapsed += ms


def _out(line):
    print("< " + line)


def boot(opts_json):
    """Power the board up: a fresh clock and pin, the persisted state file, main's wiring."""
    global wd, clock, pin
    opts = json.loads(opts_json)
    clock = SimClock(opts.get("clock_start", 0))
    machine.sim_now = lambda: clock.elapsed
    pin = main.make_pin()
    wd = watchdog_logic.Watchdog(
        pin,
        clock.ticks_ms,
        watchdog_logic.FileStorage(STATE_FILE),
        _out,
        ticks_diff=time.ticks_diff,
        pulse_ms=opts.get("pulse_ms", main.PULSE_MS),
        grace_s=opts.get("grace_s", main.GRACE_S),
        max_resets=opts.get("max_resets", main.MAX_RESETS),
    )
    wd.start()


def feed_hex(text):
    wd.feed(binascii.unhexlify(text))


def advance(ms):
    """Let ``ms`` of board time pass, stopping at each deadline the board names, as main's
    loop does (it sleeps min(due, POLL_MAX_MS)): pulses start and end on the exact tick."""
    remaining = ms
    while True:
        wd.tick()
        if remaining <= 0:
            return
        due = wd.ms_until_due()
        # Just ticked, so nothing is due now; a 0 would only mean "due at once" again.
        step = remaining if due is None else min(remaining, max(due, 1))
        clock.advance(step)
        remaining -= step


def pulses():
    """Reset pulses seen on the pin as [start_ms, width_ms] (width None while still low)."""
    found = []
    start = None
    for t, level in pin.history:
        if level == 0 and start is None:
            start = t
        elif level == 1 and start is not None:
            found.append([start, t - start])
            start = None
    if start is not None:
        found.append([start, None])
    print("@pulses " + json.dumps(found))


def pin_info():
    info = {
        "id": pin.id,
        "open_drain": pin.mode == machine.Pin.OPEN_DRAIN,
        "level": pin.level,
        "elapsed_ms": clock.elapsed,
    }
    print("@pin " + json.dumps(info))
