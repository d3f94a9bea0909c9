"""Thai (and Latin) text rendered to 1-bit images for raster printing.

Thai stacks vowels and tone marks above and below consonants; a printer's code-page font gets
that right only on some models. Drawing the text with a Thai font and Pillow's complex-text
layout (libraqm: HarfBuzz shaping) puts every mark where it belongs on any printer that prints
raster images, which is all of them.
"""

from __future__ import annotations

import shutil
import subprocess
import unicodedata
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from PIL import Image, ImageDraw, ImageFont, features

from hardware.exc import HardwareConfigError

#: Debian's Thai fonts, best first for small thermal print (fonts-thai-tlwg, fonts-noto-core).
THAI_FONTS = (
    "/usr/share/fonts/truetype/tlwg/Garuda.ttf",
    "/usr/share/fonts/opentype/tlwg/Garuda.otf",
    "/usr/share/fonts/truetype/tlwg/Loma.ttf",
    "/usr/share/fonts/opentype/tlwg/Loma.otf",
    "/usr/share/fonts/truetype/tlwg/Norasi.ttf",
    "/usr/share/fonts/truetype/noto/NotoSansThai-Regular.ttf",
)

#: Grey levels at or above this become paper: a little darker than half keeps thin marks.
THRESHOLD = 150
Align = Literal["left", "center", "right"]


def _fontconfig(pattern: str) -> str | None:
    """The file fontconfig picks for ``pattern``, if fontconfig is installed."""
    fc_match = shutil.which("fc-match")
    if fc_match is None:
        return None
    result = subprocess.run(
        [fc_match, "--format=%{file}", pattern],
        capture_output=True,
        text=True,
        check=False,
        timeout=10,
    )
    path = result.stdout.strip()
    return path if result.returncode == 0 and path else None


def find_thai_font(requested: str | None = None) -> Path:
    """A font file that covers Thai: ``requested`` (a path or a family) or the first installed.

    Raises :class:`HardwareConfigError` when none is found, so a station without Thai fonts
    fails at start-up instead of printing boxes.
    """
    if requested:
        path = Path(requested)
        if path.is_file():
            return path
        found = _fontconfig(f"{requested}:lang=th")
        if found and Path(found).is_file() and requested.lower() in Path(found).stem.lower():
            return Path(found)
        raise HardwareConfigError(f"Thai font {requested!r} not found")
    for candidate in THAI_FONTS:
        if Path(candidate).is_file():
            return Path(candidate)
    found = _fontconfig("sans:lang=th")
    if found and Path(found).is_file() and _covers_thai(Path(found)):
        return Path(found)
    raise HardwareConfigError("no Thai font installed (install fonts-thai-tlwg)")


def _covers_thai(path: Path) -> bool:
    font = ImageFont.truetype(str(path), 20)
    # A missing glyph renders as the .notdef box, the same for every missing character.
    return font.getmask("ก").getbbox() != font.getmask("\uffff").getbbox()


def bold_variant(path: Path) -> Path | None:
    """``Garuda-Bold.ttf`` beside ``Garuda.ttf`` (Noto's ``-Regular`` becomes ``-Bold``)."""
    stem = path.stem.removesuffix("-Regular")
    candidate = path.with_name(f"{stem}-Bold{path.suffix}")
    return candidate if candidate.is_file() else None


def clusters(text: str) -> list[str]:
    """``text`` cut into units that may not be split: a base character with its marks."""
    units: list[str] = []
    for char in text:
        if units and (unicodedata.combining(char) or unicodedata.category(char) == "Mn"):
            units[-1] += char
        else:
            units.append(char)
    return units


@dataclass(frozen=True)
class Style:
    """How one line of text looks."""

    size: int
    bold: bool = False
    align: Align = "left"


@dataclass(frozen=True)
class Row:
    """One line of text; ``right`` is drawn right-aligned on the same line (a value)."""

    text: str
    style: Style
    right: str = ""


class TextImager:
    """Draws lines of text into a 1-bit image exactly ``width`` dots wide."""

    def __init__(self, font_path: Path, width: int, margin: int = 8) -> None:
        if not features.check("raqm"):
            # Without shaping, tone marks collide with upper vowels: refuse rather than misprint.
            raise HardwareConfigError("Pillow lacks libraqm; Thai cannot be laid out")
        self.font_path = Path(font_path)
        self.bold_path = bold_variant(self.font_path)
        self.width = width
        self.margin = margin
        self._fonts: dict[tuple[int, bool], ImageFont.FreeTypeFont] = {}

    def font(self, size: int, bold: bool = False) -> ImageFont.FreeTypeFont:
        """The font at ``size`` (cached)."""
        key = (size, bold and self.bold_path is not None)
        if key not in self._fonts:
            path = self.bold_path if key[1] else self.font_path
            self._fonts[key] = ImageFont.truetype(
                str(path), size, layout_engine=ImageFont.Layout.RAQM
            )
        return self._fonts[key]

    def text_width(self, text: str, style: Style) -> int:
        """Width in dots of ``text`` drawn in ``style``."""
        return int(self.font(style.size, style.bold).getlength(text))

    def line_height(self, style: Style) -> int:
        """Distance between baselines: ascent and descent leave room for stacked marks."""
        ascent, descent = self.font(style.size, style.bold).getmetrics()
        return ascent + descent + style.size // 6

    def wrap(self, text: str, style: Style, width: int | None = None) -> list[str]:
        """Break ``text`` into lines that fit ``width``: at spaces, else between characters.

        Thai writes words without spaces; a long Thai run breaks between character clusters
        (never between a consonant and its vowel or tone mark).
        """
        limit = (width if width is not None else self.width - 2 * self.margin) - 1
        lines: list[str] = []
        for paragraph in text.split("\n"):
            line = ""
            for word in paragraph.split(" "):
                candidate = f"{line} {word}" if line else word
                if self.text_width(candidate, style) <= limit:
                    line = candidate
                    continue
                if line:
                    lines.append(line)
                line = ""
                for unit in clusters(word):
                    if line and self.text_width(line + unit, style) > limit:
                        lines.append(line)
                        line = ""
                    line += unit
            lines.append(line)
        return lines

    def render(self, rows: list[Row]) -> Image.Image:
        """Draw ``rows`` top to bottom (each already fits the width); returns a mode-1 image."""
        heights = [self.line_height(row.style) for row in rows]
        image = Image.new("L", (self.width, max(1, sum(heights))), 255)
        draw = ImageDraw.Draw(image)
        top = 0
        for row, height in zip(rows, heights, strict=True):
            font = self.font(row.style.size, row.style.bold)
            ascent, _ = font.getmetrics()
            baseline = top + ascent + row.style.size // 12
            # No bold file: a one-dot stroke thickens the regular face instead.
            stroke = 1 if row.style.bold and self.bold_path is None else 0
            x, anchor = self._anchor(row.style.align)
            draw.text(
                (x, baseline), row.text, font=font, fill=0, anchor=anchor, stroke_width=stroke
            )
            if row.right:
                x, anchor = self._anchor("right")
                draw.text(
                    (x, baseline), row.right, font=font, fill=0, anchor=anchor, stroke_width=stroke
                )
            top += height
        return threshold(image)

    def pair(self, label: str, value: str, style: Style) -> list[Row]:
        """Rows for a label and its value: one line with the value at the right, or the value
        indented below the label when both do not fit."""
        gap = style.size
        usable = self.width - 2 * self.margin
        if self.text_width(label, style) + gap + self.text_width(value, style) <= usable:
            return [Row(label, style, right=value)]
        label_style = Style(style.size, True, "left")
        indent = "    "
        return [Row(line, label_style) for line in self.wrap(label, label_style)] + [
            Row(indent + line, style)
            for line in self.wrap(value, style, usable - self.text_width(indent, style))
        ]

    def paragraph(self, text: str, style: Style) -> list[Row]:
        """``text`` wrapped to the paper width, one row per line."""
        return [Row(line, style) for line in self.wrap(text, style)]

    def _anchor(self, align: Align) -> tuple[int, str]:
        if align == "center":
            return self.width // 2, "ms"
        if align == "right":
            return self.width - self.margin, "rs"
        return self.margin, "ls"


def threshold(image: Image.Image) -> Image.Image:
    """Anti-aliased grey to pure black and white, so python-escpos does not dither it."""
    return image.point(lambda value: 255 if value >= THRESHOLD else 0).convert("1", dither=None)
