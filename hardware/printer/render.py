"""Captured ESC/POS bytes drawn as a PNG, so a person can look at a receipt without paper.

``python -m hardware.printer.render spool.bin out.png`` (a job file of the virtual printer, or
any capture). It interprets text in the selected code page with alignment, bold, underline and
character size; raster images (``GS v 0``, ``GS ( L``); QR codes (``GS ( k``, re-drawn with the
``qrcode`` library from the stored data); line and dot feeds; and cuts, drawn as dashed lines.
Other commands are skipped and listed. It is a viewer, not a printer emulator: fonts and
spacing approximate a real printer's, raster images are exact.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import qrcode
from escpos.capabilities import CAPABILITIES, get_profile
from PIL import Image, ImageDraw, ImageFont, ImageOps

from hardware.exc import HardwareConfigError
from hardware.printer.stream import Command, iter_commands
from hardware.printer.textimage import find_thai_font

FONT_A_HEIGHT, FONT_B_HEIGHT = 24, 17
DEFAULT_LINE_SPACING = 30  # ESC 2: about 1/6 inch at 203 dpi
_QR_EC = {48: qrcode.constants.ERROR_CORRECT_L, 49: qrcode.constants.ERROR_CORRECT_M}
_QR_EC |= {50: qrcode.constants.ERROR_CORRECT_Q, 51: qrcode.constants.ERROR_CORRECT_H}


@dataclass
class _Style:
    align: str = "left"
    bold: bool = False
    underline: bool = False
    width: int = 1
    height: int = 1
    font_b: bool = False
    encoding: str = "cp437"
    line_spacing: int = DEFAULT_LINE_SPACING


@dataclass
class _QrState:
    module: int = 3
    ec: int = qrcode.constants.ERROR_CORRECT_L
    data: bytes = b""


@dataclass
class Rendering:
    """The drawn receipt and what the renderer could not draw."""

    image: Image.Image
    skipped: list[str] = field(default_factory=list)


class Renderer:
    """Draws commands one by one onto a strip of paper ``width`` dots wide."""

    def __init__(self, width: int = 576, profile: str = "TM-P80", font: str | None = None) -> None:
        self.width = width
        try:
            self._codepages = get_profile(profile).codePages
        except KeyError:
            raise HardwareConfigError(f"unknown printer profile {profile!r}") from None
        try:
            # A typewriter face looks like a printer font; TlwgMono (all marks on cells) does not
            # stack Thai marks properly.
            self._font_path = str(find_thai_font(font or "TlwgTypo"))
        except HardwareConfigError:
            if font:
                raise
            self._font_path = str(find_thai_font())
        self._fonts: dict[int, ImageFont.FreeTypeFont] = {}
        self._strips: list[Image.Image] = []
        self._line: list[tuple[str, _Style]] = []
        self._line_align = "left"
        self.style = _Style(encoding=self._encoding(0))
        self.qr = _QrState()
        self._stored_graphic: Image.Image | None = None
        self.skipped: list[str] = []

    # --- output ------------------------------------------------------------------------

    def result(self) -> Rendering:
        """Everything drawn so far as one image (pending text is flushed first)."""
        self._flush_line()
        height = sum(strip.height for strip in self._strips) + 16
        page = Image.new("L", (self.width, height), 255)
        top = 8
        for strip in self._strips:
            page.paste(strip, (0, top))
            top += strip.height
        return Rendering(page, sorted(set(self.skipped)))

    def _add(self, strip: Image.Image, align: str | None = None) -> None:
        """Append an image, positioned by ``align`` like the printer would."""
        strip = strip.convert("L")
        if strip.width > self.width:
            strip = strip.crop((0, 0, self.width, strip.height))
        row = Image.new("L", (self.width, strip.height), 255)
        free = self.width - strip.width
        x = {"center": free // 2, "right": free}.get(align or self.style.align, 0)
        row.paste(strip, (x, 0))
        self._strips.append(row)

    def _feed(self, dots: int) -> None:
        if dots > 0:
            self._strips.append(Image.new("L", (self.width, dots), 255))

    # --- commands ----------------------------------------------------------------------

    def feed(self, command: Command) -> None:
        """Interpret one command."""
        name, raw = command.name, command.raw
        handler = _HANDLERS.get(name)
        if handler is not None:
            handler(self, command)
        elif name == "text":
            if not self._line:
                self._line_align = self.style.align
            text = raw.decode(self.style.encoding, errors="replace")
            self._line.append((text, _Style(**vars(self.style))))
        elif command.realtime or name in ("CR", "ESC t", "ESC M", "ESC 2", "ESC 3"):
            self._settings(command)
        else:
            self.skipped.append(name)

    def _settings(self, command: Command) -> None:
        name, n = command.name, command.arg
        if name == "ESC t":
            self.style.encoding = self._encoding(n)
        elif name == "ESC M":
            self.style.font_b = n in (1, 49)
        elif name == "ESC 2":
            self.style.line_spacing = DEFAULT_LINE_SPACING
        elif name == "ESC 3":
            self.style.line_spacing = max(n, 1)

    def _encoding(self, number: int) -> str:
        name = self._codepages.get(str(number), "CP437")
        return CAPABILITIES["encodings"].get(name, {}).get("python_encode", "cp437")

    def _reset(self, _command: Command) -> None:
        self._flush_line()
        self.style = _Style(encoding=self._encoding(0))

    def _print_mode(self, command: Command) -> None:  # ESC ! n
        n = command.arg
        self.style.font_b = bool(n & 0x01)
        self.style.bold = bool(n & 0x08)
        self.style.height = 2 if n & 0x10 else 1
        self.style.width = 2 if n & 0x20 else 1
        self.style.underline = bool(n & 0x80)

    def _char_size(self, command: Command) -> None:  # GS ! n
        self.style.width = (command.arg >> 4 & 0x07) + 1
        self.style.height = (command.arg & 0x07) + 1

    def _bold(self, command: Command) -> None:
        self.style.bold = bool(command.arg & 1)

    def _underline(self, command: Command) -> None:
        self.style.underline = command.arg in (1, 2, 49, 50)

    def _align(self, command: Command) -> None:
        self.style.align = {0: "left", 1: "center", 2: "right"}.get(command.arg % 48, "left")
        if not self._line:
            self._line_align = self.style.align

    def _newline(self, _command: Command) -> None:
        if self._line:
            self._flush_line()
        else:
            self._feed(self.style.line_spacing)

    def _feed_lines(self, command: Command) -> None:  # ESC d n
        self._flush_line()
        self._feed(command.arg * self.style.line_spacing)

    def _feed_dots(self, command: Command) -> None:  # ESC J n
        self._flush_line()
        self._feed(command.arg)

    def _raster(self, command: Command) -> None:  # GS v 0 m xL xH yL yH d...
        self._flush_line()
        raw = command.raw
        mode = raw[3] % 48
        width_bytes = int.from_bytes(raw[4:6], "little")
        height = int.from_bytes(raw[6:8], "little")
        if not width_bytes or not height:
            return
        image = _bits_to_image(raw[8:], width_bytes, height)
        if mode & 1:
            image = image.resize((image.width * 2, image.height))
        if mode & 2:
            image = image.resize((image.width, image.height * 2))
        self._add(image)

    def _graphics(self, command: Command) -> None:  # GS ( L: store (fn 112) and print (fn 50)
        body = command.raw[5:]
        if len(body) < 2:
            return
        fn = body[1]
        if fn == 112 and len(body) >= 10:  # m fn a bx by c xL xH yL yH d...
            width = int.from_bytes(body[6:8], "little")
            height = int.from_bytes(body[8:10], "little")
            self._stored_graphic = _bits_to_image(body[10:], (width + 7) // 8, height)
        elif fn == 50 and self._stored_graphic is not None:
            self._flush_line()
            self._add(self._stored_graphic)
        else:
            self.skipped.append(f"GS ( L fn {fn}")

    def _code_2d(self, command: Command) -> None:  # GS ( k pL pH cn fn ...
        body = command.raw[5:]
        if len(body) < 2 or body[0] != 49:  # 49: QR; PDF417 and others are not drawn
            self.skipped.append("GS ( k (not QR)")
            return
        fn, params = body[1], body[2:]
        if fn == 67 and params:
            self.qr.module = max(1, min(params[0], 16))
        elif fn == 69 and params:
            self.qr.ec = _QR_EC.get(params[0], qrcode.constants.ERROR_CORRECT_L)
        elif fn == 80:
            self.qr.data = params[1:]  # after m = 48
        elif fn == 81 and self.qr.data:
            self._flush_line()
            self._add(_qr_image(self.qr))

    def _cut(self, command: Command) -> None:
        self._flush_line()
        partial = command.raw[2] in (1, 49, 66, 104)
        strip = Image.new("L", (self.width, 24), 255)
        draw = ImageDraw.Draw(strip)
        for x in range(0, self.width, 16):
            draw.line((x, 12, x + 8, 12), fill=96, width=2)
        label = "partial cut" if partial else "cut"
        draw.rectangle((4, 2, 12 + 8 * len(label), 22), fill=255)
        draw.text((8, 12), label, fill=64, anchor="lm", font=self._font(14))
        self._strips.append(strip)

    # --- text --------------------------------------------------------------------------

    def _font(self, size: int) -> ImageFont.FreeTypeFont:
        if size not in self._fonts:
            self._fonts[size] = ImageFont.truetype(
                self._font_path, size, layout_engine=ImageFont.Layout.RAQM
            )
        return self._fonts[size]

    def _flush_line(self) -> None:
        if not self._line:
            return
        pieces = [_draw_text(text, style, self._font) for text, style in self._line]
        self._line = []
        height = max(piece.height for piece in pieces)
        line = Image.new("L", (sum(piece.width for piece in pieces), height), 255)
        x = 0
        for piece in pieces:
            line.paste(piece, (x, height - piece.height))
            x += piece.width
        spacing = max(self.style.line_spacing - FONT_A_HEIGHT, 0)
        padded = Image.new("L", (line.width, height + spacing), 255)
        padded.paste(line, (0, spacing // 2))
        self._add(padded, self._line_align)


def _draw_text(
    text: str, style: _Style, font_for: Callable[[int], ImageFont.FreeTypeFont]
) -> Image.Image:
    """One run of text in one style: drawn at the cell height, stretched for double width."""
    cell = FONT_B_HEIGHT if style.font_b else FONT_A_HEIGHT
    height = cell * style.height
    font = font_for(int(height * 0.8))
    ascent, descent = font.getmetrics()
    box_height = max(height, ascent + descent)
    width = max(1, int(font.getlength(text)) + 2)
    image = Image.new("L", (width, box_height), 255)
    draw = ImageDraw.Draw(image)
    draw.text((0, ascent), text, font=font, fill=0, anchor="ls", stroke_width=int(style.bold))
    if style.underline:
        draw.line((0, box_height - 2, width, box_height - 2), fill=0, width=2)
    stretch = style.width / style.height
    if stretch != 1:
        image = image.resize((max(1, int(width * stretch)), box_height))
    return image


def _bits_to_image(data: bytes, width_bytes: int, height: int) -> Image.Image:
    """ESC/POS raster bits (1 = black dot, MSB left) as a greyscale image."""
    needed = width_bytes * height
    data = bytes(data[:needed]).ljust(needed, b"\x00")
    # In Pillow's mode 1 a set bit is white, on paper it is black: invert.
    return ImageOps.invert(Image.frombytes("1", (width_bytes * 8, height), data).convert("L"))


def _qr_image(state: _QrState) -> Image.Image:
    code = qrcode.QRCode(border=0, error_correction=state.ec, box_size=1)
    code.add_data(state.data)
    code.make(fit=True)
    matrix = code.get_matrix()
    size = len(matrix)
    image = Image.frombytes(
        "L", (size, size), bytes(0 if dark else 255 for row in matrix for dark in row)
    )
    image = image.resize((size * state.module, size * state.module), Image.Resampling.NEAREST)
    framed = Image.new("L", (image.width, image.height + 8), 255)
    framed.paste(image, (0, 4))
    return framed


_HANDLERS = {
    "ESC @": Renderer._reset,
    "ESC !": Renderer._print_mode,
    "GS !": Renderer._char_size,
    "ESC E": Renderer._bold,
    "ESC G": Renderer._bold,
    "ESC -": Renderer._underline,
    "ESC a": Renderer._align,
    "LF": Renderer._newline,
    "ESC d": Renderer._feed_lines,
    "ESC J": Renderer._feed_dots,
    "GS v 0": Renderer._raster,
    "GS ( L": Renderer._graphics,
    "GS 8 L": Renderer._graphics,
    "GS ( k": Renderer._code_2d,
    "GS V": Renderer._cut,
}


def render(data: bytes, width: int = 576, profile: str = "TM-P80") -> Rendering:
    """Draw the ESC/POS ``data`` on paper ``width`` dots wide."""
    renderer = Renderer(width, profile)
    for command in iter_commands(data):
        renderer.feed(command)
    return renderer.result()


def main(argv: list[str] | None = None) -> int:
    """``python -m hardware.printer.render SPOOL.bin OUT.png``."""
    parser = argparse.ArgumentParser(
        prog="python -m hardware.printer.render", description=__doc__.splitlines()[0]
    )
    parser.add_argument("spool", type=Path, help="captured ESC/POS bytes (a virtual-printer job)")
    parser.add_argument("out", type=Path, help="PNG file to write")
    parser.add_argument("--width", type=int, default=576, help="paper width in dots (576 = 80 mm)")
    parser.add_argument("--profile", default="TM-P80", help="python-escpos printer profile")
    args = parser.parse_args(argv)
    try:
        data = args.spool.read_bytes()
        rendering = render(data, args.width, args.profile)
        rendering.image.save(args.out, format="PNG")
    except OSError as exc:
        print(f"error: {exc.strerror or exc}: {exc.filename or ''}", file=sys.stderr)
        return 1
    except HardwareConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    width, height = rendering.image.size
    print(f"{args.out}: {width}x{height} dots from {len(data)} bytes")
    if rendering.skipped:
        print(f"not drawn: {', '.join(rendering.skipped)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
