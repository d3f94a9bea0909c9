"""The station's side of the board's line protocol: what the board's lines mean.

Pure parsing, no I/O. Replies are ``OK <COMMAND> [args] [key=value ...]`` or
``ERR <code> [detail]``; ``BOOT`` and ``RESET`` lines come unasked. docs/watchdog.md has the
whole protocol.
"""

from __future__ import annotations

import msgspec

from hardware.exc import WatchdogProtocolError

PROTOCOL = 1
#: Lines the board sends without being asked.
EVENT_KINDS = frozenset({"BOOT", "RESET"})


class Reply(msgspec.Struct, frozen=True):
    """The board's answer to one command line."""

    ok: bool
    #: The command answered (``HB``, ``ARM``...); empty for ``ERR``, which does not name it.
    command: str = ""
    args: tuple[str, ...] = ()
    fields: dict[str, str] = {}
    #: For ``ERR``: the error code and the free-text detail.
    code: str = ""
    detail: str = ""


class Event(msgspec.Struct, frozen=True):
    """An unsolicited line: ``BOOT`` (the board started) or ``RESET`` (it pulled the line)."""

    kind: str
    fields: dict[str, str] = {}


class BoardInfo(msgspec.Struct, frozen=True):
    """What ``HELLO`` (and, without ``timeout_s``, ``BOOT``) tells about the board."""

    version: str
    protocol: int
    state: str
    timeout_s: int
    resets: int
    last_reason: str
    #: ``ok``, ``new`` (no state file yet), ``corrupt`` (history lost) or ``error`` (flash failing).
    store: str


class Status(msgspec.Struct, frozen=True):
    """The board's timer state, from ``STATUS``."""

    state: str
    timeout_s: int
    #: Milliseconds until the board acts (a reset, or a pulse's end); None when nothing is due.
    left_ms: int | None
    last_seq: int | None
    resets: int
    #: Resets since the host last showed life; at the board's limit it stops resetting.
    streak: int
    last_reason: str


class ResetLog(msgspec.Struct, frozen=True):
    """How many resets the board made (since the last ``CLEAR``) and the latest reasons."""

    count: int
    #: Oldest first; the board keeps the last few only.
    reasons: tuple[str, ...]


def parse_line(line: str) -> Reply | Event:
    """Parse one line from the board (without its line ending)."""
    words = line.split()
    if not words:
        raise WatchdogProtocolError("empty line from the watchdog board")
    head = words[0]
    if head == "OK":
        if len(words) < 2:
            raise WatchdogProtocolError(f"reply without a command: {line!r}")
        args = tuple(w for w in words[2:] if "=" not in w)
        return Reply(ok=True, command=words[1], args=args, fields=_fields(words[2:], line))
    if head == "ERR":
        if len(words) < 2:
            raise WatchdogProtocolError(f"error reply without a code: {line!r}")
        return Reply(ok=False, code=words[1], detail=" ".join(words[2:]))
    if head in EVENT_KINDS:
        if any("=" not in w for w in words[1:]):
            raise WatchdogProtocolError(f"malformed {head} line: {line!r}")
        return Event(kind=head, fields=_fields(words[1:], line))
    raise WatchdogProtocolError(f"unexpected line from the watchdog board: {line[:120]!r}")


def _fields(words: list[str], line: str) -> dict[str, str]:
    fields: dict[str, str] = {}
    for word in words:
        if "=" in word:
            key, value = word.split("=", 1)
            if not key:
                raise WatchdogProtocolError(f"field without a name in {line!r}")
            fields[key] = value
    return fields


def int_field(fields: dict[str, str], name: str) -> int:
    """A required non-negative integer field."""
    value = str_field(fields, name)
    if not value.isascii() or not value.isdecimal():
        raise WatchdogProtocolError(f"{name}={value!r} is not a number")
    return int(value)


def optional_int_field(fields: dict[str, str], name: str) -> int | None:
    """An integer field where ``-`` means "none" (no heartbeat yet, nothing due)."""
    return None if str_field(fields, name) == "-" else int_field(fields, name)


def str_field(fields: dict[str, str], name: str) -> str:
    """A required field, as text."""
    try:
        return fields[name]
    except KeyError:
        raise WatchdogProtocolError(f"the board's line lacks {name}=") from None


def board_info(fields: dict[str, str]) -> BoardInfo:
    """BoardInfo from a ``HELLO`` reply's (or a ``BOOT`` line's) fields."""
    info = BoardInfo(
        version=str_field(fields, "version"),
        protocol=int_field(fields, "proto"),
        state=str_field(fields, "state"),
        # BOOT has no timeout_s: the board has just started and says so in state=.
        timeout_s=int_field(fields, "timeout_s") if "timeout_s" in fields else 0,
        resets=int_field(fields, "resets"),
        last_reason=str_field(fields, "last_reason"),
        store=str_field(fields, "store"),
    )
    if info.protocol != PROTOCOL:
        raise WatchdogProtocolError(
            f"the board speaks protocol {info.protocol}, this station speaks {PROTOCOL}:"
            " update the board's firmware or the station"
        )
    return info


def status(fields: dict[str, str]) -> Status:
    """Status from a ``STATUS`` reply's fields."""
    return Status(
        state=str_field(fields, "state"),
        timeout_s=int_field(fields, "timeout_s"),
        left_ms=optional_int_field(fields, "left_ms"),
        last_seq=optional_int_field(fields, "last_seq"),
        resets=int_field(fields, "resets"),
        streak=int_field(fields, "streak"),
        last_reason=str_field(fields, "last_reason"),
    )


def reset_log(fields: dict[str, str]) -> ResetLog:
    """ResetLog from a ``RESETS`` reply's fields."""
    log = str_field(fields, "log")
    reasons = () if log == "-" else tuple(log.split(","))
    return ResetLog(count=int_field(fields, "count"), reasons=reasons)
