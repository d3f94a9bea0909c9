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


def _power_on(opts):
    """A fresh clock and pin (through main's own make_pin), and the logic on the state file."""
    global wd, clock, pin
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


def boot(opts_json):
    """Power the board up; the test then feeds it and moves its clock command by command."""
    _power_on(json.loads(opts_json))
    wd.start()


class _Done(Exception):
    pass


class _ScriptedSerial:
    """Stands in for sys (stdin, stdout) and select (poll) under main.serve: input bytes
    arrive at set board times, and a poll that finds nothing lets its timeout pass on the
    sim clock, as the real poll would in real time."""

    POLLIN = 1

    def __init__(self, schedule, until_ms):
        self.schedule = schedule
        self.until_ms = until_ms
        self.pending = bytearray()
        self.partial = ""
        self.stdin = self
        self.stdout = self
        self.buffer = self

    def _release(self):
        while self.schedule and self.schedule[0][0] <= clock.elapsed:
            self.pending.extend(binascii.unhexlify(self.schedule.pop(0)[1]))

    # select.poll()
    def poll(self, timeout=-1):
        self._release()
        if not self.pending and timeout != 0:
            if clock.elapsed >= self.until_ms:
                raise _Done()
            step = timeout
            if self.schedule:
                step = min(step, self.schedule[0][0] - clock.elapsed)
            clock.advance(max(step, 0))
            self._release()
        return [(self, self.POLLIN)] if self.pending else []

    def register(self, obj, mask):
        pass

    # sys.stdin.buffer
    def read(self, n):
        data = bytes(self.pending[:n])
        self.pending = self.pending[n:]
        return data

    # sys.stdout
    def write(self, text):
        self.partial += text
        while "\n" in self.partial:
            line, self.partial = self.partial.split("\n", 1)
            _out(line)


def serve(opts_json):
    """Power on and run main.serve itself, its sys and select swapped for a script."""
    opts = json.loads(opts_json)
    _power_on(opts)
    port = _ScriptedSerial(opts["input"], opts["until_ms"])
    saved = main.sys, main.select
    main.sys = port
    main.select = _PollModule(port)
    try:
        main.serve(wd)
    except _Done:
        pass
    finally:
        main.sys, main.select = saved


class _PollModule:
    POLLIN = 1

    def __init__(self, port):
        self.port = port

    def poll(self):
        return self.port


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
