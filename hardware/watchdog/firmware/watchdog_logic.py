"""Watchdog board logic: the line protocol, the reset timer and the persisted reset log.

Runs unchanged under MicroPython (on the Pico, and under WebAssembly in the tests) and under
CPython (the ``virtual`` backend). So it touches no hardware and no clock of its own: the
reset pin, the millisecond tick source, the storage and the output line writer are all passed
in by ``main.py`` (or by a simulator). No typing, dataclasses, f-string conversions or any
module MicroPython lacks; nothing here blocks, so the caller's loop stays responsive.

The protocol is described in docs/watchdog.md.
"""

import os

VERSION = "1.0.0"
PROTOCOL = 1

# Longest command line accepted; anything longer is garbage (line noise, a stray binary).
MAX_LINE = 80
# How many reset reasons the persisted log keeps (newest last); the count itself is unbounded.
LOG_SIZE = 8
MIN_TIMEOUT_S = 1
# ticks_ms wraps every 2**30 ms on the rp2 port and ticks_diff is only valid below half of
# that (about 6.2 days): one day keeps every interval the board measures well inside it.
MAX_TIMEOUT_S = 86400
MAX_SEQ = 2147483647

DISARMED = "disarmed"
ARMED = "armed"
PULSING = "pulsing"
GRACE = "grace"
GAVEUP = "gaveup"

# Why the board pulled the reset line.
HB_TIMEOUT = "hb_timeout"  # heartbeats came, then stopped for longer than the timeout
NO_HB = "no_hb"  # armed, but not one heartbeat since
BOOT_TIMEOUT = (
    "boot_timeout"  # after a reset, or a board boot while armed: the host never came back
)

_REASONS = (HB_TIMEOUT, NO_HB, BOOT_TIMEOUT)
_STATE_MAGIC = "wd1"


def _plain_diff(a, b):
    """ticks_diff for a clock that never wraps (CPython's monotonic milliseconds)."""
    return a - b


def _is_uint(text):
    """True for a plain decimal number: no sign, no spaces, no underscores, not empty."""
    if not text or len(text) > 10:
        return False
    return all("0" <= ch <= "9" for ch in text)


class MemoryStorage:
    """Keeps the state text in RAM: for tests and for a virtual board without a file."""

    def __init__(self, text=None):
        self.text = text

    def load(self):
        return self.text

    def save(self, text):
        self.text = text


class FileStorage:
    """Keeps the state text in a small file on the board's flash.

    Writes a temporary file and renames it over the old one, so a power cut mid-write leaves
    either the old or the new state, never half of one (LittleFS renames atomically).
    """

    def __init__(self, path):
        self.path = path

    def load(self):
        try:
            with open(self.path) as f:
                return f.read()
        except OSError:
            return None

    def save(self, text):
        tmp = self.path + ".tmp"
        with open(tmp, "w") as f:
            f.write(text)
        os.rename(tmp, self.path)


class Watchdog:
    """The board: feed it input bytes, call tick() often, it writes reply lines and pulses.

    pin        object with value(v): 1 = released (idle), 0 = pulling the Pi's reset line low
    clock      callable returning milliseconds (time.ticks_ms on the board)
    storage    object with load() -> str or None and save(str)
    write      callable taking one output line, without its newline
    ticks_diff callable(a, b) -> a - b in the clock's arithmetic (time.ticks_diff on the board)
    pulse_ms   how long the reset line is held low
    grace_s    after a reset, how long the host has to come back before the next reset
    max_resets consecutive resets without a sign of life before the board gives up
    """

    def __init__(
        self,
        pin,
        clock,
        storage,
        write,
        ticks_diff=None,
        pulse_ms=200,
        grace_s=300,
        max_resets=3,
    ):
        self.pin = pin
        self.clock = clock
        self.storage = storage
        self.write = write
        self.ticks_diff = ticks_diff or _plain_diff
        self.pulse_ms = pulse_ms
        self.grace_ms = grace_s * 1000
        self.max_resets = max_resets
        # Persisted: total resets, the last reasons, the armed timeout (0 = disarmed) and the
        # streak of resets since the host last showed life (bounds a reset loop across reboots).
        self.resets = 0
        self.log = []
        self.armed_s = 0
        self.streak = 0
        self.store = "new"
        # Runtime only.
        self.state = DISARMED
        self.since = 0
        self.limit_ms = 0
        self.last_seq = None
        self._buf = bytearray()
        self._overflow = False
        self._bad_byte = False

    # --- life cycle -----------------------------------------------------------------------

    def start(self):
        """Boot: release the line, load the persisted state, announce ourselves."""
        self.pin.value(1)
        self._load()
        if self.armed_s:
            # Armed before the board lost power (often because the Pi's supply dropped and took
            # the board with it): the host gets the boot grace to come back, as after a reset.
            if self.streak >= self.max_resets:
                self.state = GAVEUP
            else:
                self._enter(GRACE, self.grace_ms)
        self.write(
            "BOOT version=%s proto=%d state=%s resets=%d last_reason=%s store=%s"
            % (VERSION, PROTOCOL, self.state, self.resets, self._last_reason(), self.store)
        )

    def tick(self):
        """Advance the timers; call at least every few milliseconds (and right after input)."""
        if self.state == PULSING:
            if self._elapsed() >= self.pulse_ms:
                self._end_pulse()
        elif self.state in (ARMED, GRACE) and self._elapsed() >= self.limit_ms:
            if self.state == GRACE:
                self._fire(BOOT_TIMEOUT)
            elif self.last_seq is None:
                self._fire(NO_HB)
            else:
                self._fire(HB_TIMEOUT)

    def ms_until_due(self):
        """Milliseconds until tick() has something to do, or None: lets a loop sleep exactly."""
        if self.state == PULSING:
            return max(0, self.pulse_ms - self._elapsed())
        if self.state in (ARMED, GRACE):
            return max(0, self.limit_ms - self._elapsed())
        return None

    # --- input ----------------------------------------------------------------------------

    def feed(self, data):
        """Take raw bytes from the serial line; complete lines are handled as they end."""
        for b in data:
            if b == 10 or b == 13:  # "\n" or "\r": either ends a line, empty lines are ignored
                self._end_line()
            elif self._overflow:
                continue
            elif len(self._buf) >= MAX_LINE:
                self._overflow = True
            else:
                if b < 32 or b > 126:
                    self._bad_byte = True
                self._buf.append(b)

    def _end_line(self):
        buf, overflow, bad = self._buf, self._overflow, self._bad_byte
        self._buf = bytearray()
        self._overflow = False
        self._bad_byte = False
        if overflow:
            self._err("line_too_long", "max %d bytes" % MAX_LINE)
        elif bad:
            # Never decode these: MicroPython raises on invalid UTF-8, and they are noise anyway.
            self._err("bad_byte", "printable ASCII only")
        elif buf:
            self.handle(bytes(buf).decode())
        # Answer promptly, and fire a reset that fell due while this line was being read.
        self.tick()

    def handle(self, line):
        """Run one command line (already checked to be printable ASCII)."""
        parts = line.split()
        if not parts:
            return
        cmd = parts[0].upper()
        args = parts[1:]
        handler = _HANDLERS.get(cmd)
        if handler is None:
            self._err("unknown_command", cmd[:16])
            return
        handler(self, args)

    # --- commands -------------------------------------------------------------------------

    def _cmd_hello(self, args):
        if args:
            return self._err("bad_argument", "HELLO takes no argument")
        self.write(
            "OK HELLO version=%s proto=%d state=%s timeout_s=%d resets=%d last_reason=%s store=%s"
            % (
                VERSION,
                PROTOCOL,
                self.state,
                self.armed_s,
                self.resets,
                self._last_reason(),
                self.store,
            )
        )

    def _cmd_hb(self, args):
        if len(args) != 1 or not _is_uint(args[0]) or int(args[0]) > MAX_SEQ:
            return self._err("bad_argument", "HB <seq 0..%d>" % MAX_SEQ)
        self.last_seq = int(args[0])
        if self.state in (ARMED, GRACE, GAVEUP):
            # The host is alive: (re)start the timer with its own timeout, end any reset streak.
            self._enter(ARMED, self.armed_s * 1000)
            self._set_streak(0)
        self.write("OK HB %d state=%s" % (self.last_seq, self.state))

    def _cmd_arm(self, args):
        if (
            len(args) != 1
            or not _is_uint(args[0])
            or not MIN_TIMEOUT_S <= int(args[0]) <= MAX_TIMEOUT_S
        ):
            return self._err(
                "bad_argument", "ARM <timeout_s %d..%d>" % (MIN_TIMEOUT_S, MAX_TIMEOUT_S)
            )
        timeout_s = int(args[0])
        self.last_seq = None
        # A pulse that has started always runs to its end: a cut-short reset pulse may leave
        # the Pi half reset. The new timeout takes over when the pulse ends.
        if self.state != PULSING:
            self._enter(ARMED, timeout_s * 1000)
        self._persist(timeout_s, 0)
        self.write("OK ARM timeout_s=%d" % timeout_s)

    def _cmd_disarm(self, args):
        if args:
            return self._err("bad_argument", "DISARM takes no argument")
        if self.state != PULSING:
            self.state = DISARMED
        self._persist(0, 0)
        self.write("OK DISARM")

    def _cmd_status(self, args):
        if args:
            return self._err("bad_argument", "STATUS takes no argument")
        due = self.ms_until_due()
        self.write(
            "OK STATUS state=%s timeout_s=%d left_ms=%s last_seq=%s resets=%d streak=%d"
            " last_reason=%s"
            % (
                self.state,
                self.armed_s,
                "-" if due is None else str(due),
                "-" if self.last_seq is None else str(self.last_seq),
                self.resets,
                self.streak,
                self._last_reason(),
            )
        )

    def _cmd_resets(self, args):
        if args:
            return self._err("bad_argument", "RESETS takes no argument")
        self.write("OK RESETS count=%d log=%s" % (self.resets, ",".join(self.log) or "-"))

    def _cmd_clear(self, args):
        if args:
            return self._err("bad_argument", "CLEAR takes no argument")
        self.resets = 0
        self.log = []
        self._save()
        self.write("OK CLEAR count=0")

    # --- the reset ------------------------------------------------------------------------

    def _fire(self, reason):
        self.resets += 1
        self.log.append(reason)
        if len(self.log) > LOG_SIZE:
            self.log = self.log[-LOG_SIZE:]
        self.streak += 1
        # Saved before the pulse: if the board is powered from the Pi, the pulse may take the
        # board down with it, and the reason must already be on flash.
        self._save()
        self.write("RESET reason=%s count=%d pulse_ms=%d" % (reason, self.resets, self.pulse_ms))
        self.pin.value(0)
        self._enter(PULSING, self.pulse_ms)

    def _end_pulse(self):
        self.pin.value(1)
        if not self.armed_s:
            self.state = DISARMED
        elif self.streak >= self.max_resets:
            # Stop resetting a Pi that never comes back (dead SD card, no power supply left):
            # endless resets would only wear it further. A heartbeat re-arms.
            self.state = GAVEUP
        else:
            self._enter(GRACE, self.grace_ms)

    # --- helpers --------------------------------------------------------------------------

    def _enter(self, state, limit_ms):
        self.state = state
        self.since = self.clock()
        self.limit_ms = limit_ms

    def _elapsed(self):
        return self.ticks_diff(self.clock(), self.since)

    def _err(self, code, detail):
        self.write("ERR " + code + " " + detail)

    def _last_reason(self):
        return self.log[-1] if self.log else "none"

    def _set_streak(self, streak):
        if streak != self.streak:
            self._persist(self.armed_s, streak)

    def _persist(self, armed_s, streak):
        # Flash wears out: write only when something persisted actually changes (ARM, DISARM,
        # a reset, the first heartbeat after one) — never on an ordinary heartbeat.
        if armed_s != self.armed_s or streak != self.streak:
            self.armed_s = armed_s
            self.streak = streak
            self._save()

    def _save(self):
        text = "%s\nresets=%d\nlog=%s\narmed_s=%d\nstreak=%d\n" % (
            _STATE_MAGIC,
            self.resets,
            ",".join(self.log),
            self.armed_s,
            self.streak,
        )
        try:
            self.storage.save(text)
            if self.store != "corrupt":
                self.store = "ok"
        except OSError:
            # A full or failing flash must never stop a reset: carry on, and say so.
            self.store = "error"

    def _load(self):
        try:
            text = self.storage.load()
        except OSError:
            text = None
            self.store = "error"
            return
        if text is None:
            self.store = "new"
            return
        values = {}
        lines = text.split("\n")
        if lines[0] != _STATE_MAGIC:
            self.store = "corrupt"
            return
        for line in lines[1:]:
            if "=" in line:
                key, value = line.split("=", 1)
                values[key] = value
        try:
            resets = int(values["resets"])
            armed_s = int(values.get("armed_s", "0"))
            streak = int(values.get("streak", "0"))
            log = [r for r in values.get("log", "").split(",") if r]
        except (KeyError, ValueError):
            self.store = "corrupt"
            return
        if resets < 0 or streak < 0 or not 0 <= armed_s <= MAX_TIMEOUT_S:
            self.store = "corrupt"
            return
        for reason in log:
            # Reasons go out verbatim in replies: only known words, never stray bytes.
            if reason not in _REASONS:
                self.store = "corrupt"
                return
        self.resets = resets
        self.log = log[-LOG_SIZE:]
        self.armed_s = armed_s
        self.streak = streak
        self.store = "ok"


_HANDLERS = {
    "HELLO": Watchdog._cmd_hello,
    "HB": Watchdog._cmd_hb,
    "ARM": Watchdog._cmd_arm,
    "DISARM": Watchdog._cmd_disarm,
    "STATUS": Watchdog._cmd_status,
    "RESETS": Watchdog._cmd_resets,
    "CLEAR": Watchdog._cmd_clear,
}
