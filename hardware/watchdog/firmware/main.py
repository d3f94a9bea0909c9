"""Watchdog board entry point (MicroPython on a Raspberry Pi Pico, USB serial to the Pi).

Only the wiring lives here: the reset pin, the tick clock, the state file and the USB serial
port (the board's stdin/stdout). Everything else is in watchdog_logic.py, which the tests run
under MicroPython and CPython. Copy both files to the board's root (``mpremote cp``).

Wiring: RESET_PIN to the Pi's RUN pin (or to the gate of whatever switches its power), GND to
GND. The pin is open-drain and idles released, so a board that is unplugged, booting or sitting
at the REPL never holds the Pi in reset.
"""

import select
import sys
import time

import machine
import watchdog_logic

RESET_PIN = 15
PULSE_MS = 200
GRACE_S = 300
MAX_RESETS = 3
STATE_FILE = "watchdog_state.txt"
# Longest the loop sleeps with nothing due: bounds how late a byte is noticed.
POLL_MAX_MS = 50
# Bytes read per wake-up before the timers get a look in, so a flood cannot starve a reset.
READ_BURST = 64


def make_pin():
    """The reset line: open drain where the port has it, released (high) from the start."""
    mode = getattr(machine.Pin, "OPEN_DRAIN", machine.Pin.OUT)
    return machine.Pin(RESET_PIN, mode, value=1)


def write_line(line):
    sys.stdout.write(line + "\n")


def build():
    return watchdog_logic.Watchdog(
        make_pin(),
        time.ticks_ms,
        watchdog_logic.FileStorage(STATE_FILE),
        write_line,
        ticks_diff=time.ticks_diff,
        pulse_ms=PULSE_MS,
        grace_s=GRACE_S,
        max_resets=MAX_RESETS,
    )


def serve(wd):
    """Forever: wait for input or the next deadline, feed bytes, run the timers."""
    # Raw bytes, so line noise cannot raise a UnicodeError inside the read.
    stdin = getattr(sys.stdin, "buffer", sys.stdin)
    poller = select.poll()
    poller.register(sys.stdin, select.POLLIN)
    wd.start()
    while True:
        due = wd.ms_until_due()
        wait = POLL_MAX_MS if due is None else min(due, POLL_MAX_MS)
        n = 0
        while n < READ_BURST and poller.poll(wait if n == 0 else 0):
            data = stdin.read(1)
            if not data:
                break
            if isinstance(data, str):
                data = data.encode()
            try:
                wd.feed(data)
            except Exception as e:
                # A bug in the logic must cost one line, never the watchdog loop itself.
                write_line("ERR internal " + type(e).__name__)
            n += 1
        wd.tick()


if __name__ == "__main__":
    # Ctrl-C (0x03) from mpremote stops this loop and leaves the board at the REPL for
    # flashing; the station never sends it (it sends printable ASCII lines only).
    serve(build())
