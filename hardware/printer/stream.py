"""Splitting an ESC/POS byte stream into commands.

The virtual printer and the receipt renderer both need command boundaries: a real-time status
request (``DLE EOT n``) must be told apart from the same two bytes inside raster data, and a
raster image or a 2D code carries its own length. The table covers what python-escpos emits
and the common rest of the Epson command set; an unknown ``ESC``/``GS``/``FS`` sequence is taken
as two bytes, which is how printers skip commands they do not know.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

ESC, GS, FS, DLE = 0x1B, 0x1D, 0x1C, 0x10
EOT, ENQ, DC4 = 0x04, 0x05, 0x14

# Total length (prefix included) of fixed-length commands, by their first two bytes.
_FIXED: dict[tuple[int, int], int] = {}
for _byte, _length in {
    "@": 2, "!": 3, "E": 3, "-": 3, "M": 3, "a": 3, "t": 3, "d": 3, "J": 3, "2": 2, "3": 3,
    "+": 3, "A": 3, "{": 3, "r": 3, "G": 3, "V": 3, "p": 5, "=": 3, "B": 4, "R": 3, "U": 3,
    " ": 3, "$": 4, "\\": 4, "i": 2, "m": 2, "%": 3, "c": 4, "L": 2, "S": 2, "T": 3, "W": 10,
    "e": 3, "u": 3, "v": 2, "?": 4,
}.items():  # fmt: skip
    _FIXED[(ESC, ord(_byte))] = _length
for _byte, _length in {
    "!": 3, "B": 3, "b": 3, "H": 3, "h": 3, "w": 3, "f": 3, "L": 4, "W": 4, "|": 3, "r": 3,
    "I": 3, "a": 3, "P": 4, "/": 3, "$": 4, "\\": 4, "T": 3, ":": 2, "^": 5,
}.items():  # fmt: skip
    _FIXED[(GS, ord(_byte))] = _length
for _byte, _length in {"&": 2, ".": 2, "!": 3, "-": 3, "S": 4, "W": 3, "p": 4, "C": 3}.items():
    _FIXED[(FS, ord(_byte))] = _length
_FIXED[(DLE, EOT)] = 3
_FIXED[(DLE, ENQ)] = 3
_FIXED[(DLE, DC4)] = 5

#: Control bytes that are whole commands on their own.
SINGLE = {0x09: "HT", 0x0A: "LF", 0x0C: "FF", 0x0D: "CR", 0x18: "CAN"}

_PREFIX_NAMES = {ESC: "ESC", GS: "GS", FS: "FS", DLE: "DLE"}


@dataclass(frozen=True)
class Command:
    """One command (or one run of printable text) from the stream.

    ``name`` is ``"text"``, a control name (``"LF"``), or the mnemonic of an escape sequence
    (``"ESC a"``, ``"GS v 0"``, ``"GS ( k"``, ``"DLE EOT"``); ``raw`` is every byte of it.
    """

    name: str
    raw: bytes

    @property
    def realtime(self) -> bool:
        """Whether the printer answers or acts on it at once (status requests), not as data."""
        return self.name in ("DLE EOT", "DLE ENQ", "DLE DC4")

    @property
    def arg(self) -> int:
        """The first parameter byte of a fixed-length command (``n`` of ``ESC a n``)."""
        return self.raw[2] if len(self.raw) > 2 else 0


def _name(prefix: int, second: int) -> str:
    if prefix == DLE:
        return {EOT: "DLE EOT", ENQ: "DLE ENQ", DC4: "DLE DC4"}.get(second, "DLE")
    char = chr(second) if 0x20 <= second < 0x7F else f"0x{second:02x}"
    return f"{_PREFIX_NAMES[prefix]} {char}"


def command_length(buf: bytes | bytearray, pos: int) -> int | None:
    """Length of the command starting at ``buf[pos]``; ``None`` when more bytes are needed."""
    first = buf[pos]
    if first not in _PREFIX_NAMES:
        if first in SINGLE or first < 0x20:
            return 1
        end = pos
        while end < len(buf) and buf[end] >= 0x20:
            end += 1
        return end - pos
    if pos + 1 >= len(buf):
        return None
    second = buf[pos + 1]
    key = (first, second)
    avail = len(buf) - pos

    def need(length: int) -> int | None:
        return length if avail >= length else None

    def word(offset: int, size: int = 2) -> int | None:
        if avail < offset + size:
            return None
        return int.from_bytes(buf[pos + offset : pos + offset + size], "little")

    if first == GS and second == ord("v"):  # GS v 0 m xL xH yL yH d1...dk
        width, height = word(4), word(6)
        if width is None or height is None:
            return None
        return need(8 + width * height)
    if first in (GS, FS) and second == ord("("):  # GS ( X pL pH ...: 2D codes, graphics
        length = word(3)
        return None if length is None else need(5 + length)
    if first == GS and second == ord("8"):  # GS 8 L p1 p2 p3 p4 ...: large graphics
        length = word(3, 4)
        return None if length is None else need(7 + length)
    if first == GS and second == ord("V"):  # GS V m [n]: m 65, 66, 97... carry a feed
        if avail < 3:
            return None
        return need(4 if buf[pos + 2] in (65, 66, 97, 98, 103, 104) else 3)
    if first == GS and second == ord("k"):  # barcodes: NUL-terminated (m<=6) or counted
        if avail < 3:
            return None
        kind = buf[pos + 2]
        if kind <= 6:
            end = buf.find(b"\x00", pos + 3)
            return None if end < 0 else end + 1 - pos
        return None if avail < 4 else need(4 + buf[pos + 3])
    if first == GS and second == ord("*"):  # GS * x y d...: downloaded bit image
        if avail < 4:
            return None
        return need(4 + buf[pos + 2] * buf[pos + 3] * 8)
    if first == ESC and second == ord("*"):  # ESC * m nL nH d...: column bit image
        columns = word(3)
        if columns is None:
            return None
        return need(5 + columns * (1 if buf[pos + 2] in (0, 1) else 3))
    if first == ESC and second == ord("D"):  # ESC D n1...nk NUL: tab stops
        end = buf.find(b"\x00", pos + 2)
        return None if end < 0 else end + 1 - pos
    if key in _FIXED:
        return need(_FIXED[key])
    return 2


def parse_one(buf: bytes | bytearray, pos: int = 0) -> Command | None:
    """The command at ``buf[pos]``, or ``None`` when the buffer ends inside it."""
    length = command_length(buf, pos)
    if length is None:
        return None
    raw = bytes(buf[pos : pos + length])
    first = raw[0]
    if first in _PREFIX_NAMES:
        name = _name(first, raw[1])
        if name in ("GS v", "GS (", "FS (", "GS 8") and len(raw) > 2:
            name = f"{name} {chr(raw[2])}"
    elif first in SINGLE:
        name = SINGLE[first]
    elif first < 0x20:
        name = f"0x{first:02x}"
    else:
        name = "text"
    return Command(name, raw)


def iter_commands(data: bytes) -> Iterator[Command]:
    """Every command of a complete capture; a truncated last command comes out as ``"partial"``."""
    pos = 0
    while pos < len(data):
        command = parse_one(data, pos)
        if command is None:
            yield Command("partial", bytes(data[pos:]))
            return
        pos += len(command.raw)
        yield command


class StreamParser:
    """Incremental parsing of bytes arriving in arbitrary chunks (a TCP stream)."""

    def __init__(self) -> None:
        self._buf = bytearray()

    def feed(self, chunk: bytes) -> list[Command]:
        """Add ``chunk``; return the commands it completes (text runs split at chunk ends)."""
        self._buf += chunk
        commands: list[Command] = []
        pos = 0
        while pos < len(self._buf):
            command = parse_one(self._buf, pos)
            if command is None:
                break
            pos += len(command.raw)
            commands.append(command)
        del self._buf[:pos]
        return commands

    @property
    def pending(self) -> bytes:
        """Bytes of a command not yet complete."""
        return bytes(self._buf)
