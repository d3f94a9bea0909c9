"""What a receipt says (:class:`Receipt`) and the ESC/POS bytes that print it.

The layout writes to any python-escpos printer object; :func:`ReceiptLayout.render` writes to
a ``Dummy`` and returns the bytes, so a job is composed completely before anything is sent
(and tests compare exact bytes).

Privacy: a receipt refuses, when it is built, any line whose key or label names a password,
a PIN, an OTP or the old-age savings, which must never be printed.
"""

from __future__ import annotations

import re
import unicodedata
from datetime import UTC, datetime

import msgspec
from escpos.constants import QR_ECLEVEL_M
from escpos.escpos import Escpos
from escpos.printer import Dummy
from PIL import Image, ImageDraw

from contract.local_time import LocalTime, format_moment
from hardware.exc import HardwareConfigError, ReceiptContentError
from hardware.printer.config import LayoutConfig
from hardware.printer.textimage import Row, Style, TextImager, clusters, find_thai_font

#: Words in a line's key that name a secret or the old-age savings screen.
FORBIDDEN_KEY_WORDS = frozenset(
    {"password", "passwd", "pwd", "passcode", "pin", "otp", "secret", "savings", "oldage"}
)
#: Phrases in labels and titles (Thai and English) that name the same things.
FORBIDDEN_PHRASES = ("password", "passcode", "old-age", "old age", "รหัสผ่าน", "ชราภาพ", "เงินออม")

#: A receipt is written in Thai first (its labels are Thai / English): its date reads in Thai.
RECEIPT_LANGUAGE = "th"


class ReceiptLine(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """One ``label: value`` line; ``key`` is its machine name (``service``, ``phone``)."""

    key: str
    label: str
    value: str


class Receipt(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Everything one receipt shows. Building one with forbidden content raises."""

    title: str
    issued_at: datetime
    lines: tuple[ReceiptLine, ...] = ()
    number: str | None = None
    tracking_url: str | None = None
    footer: str | None = None
    number_label: str = "เลขที่คำร้อง / Petition no."
    date_label: str = "วันที่ / Date"
    tracking_caption: str = "สแกนเพื่อติดตามสถานะ / Scan to track"

    def __post_init__(self) -> None:
        check_printable(self)
        if self.issued_at.tzinfo is None:
            raise ValueError("issued_at must carry a time zone")


def _key_words(key: str) -> set[str]:
    words = {word for word in re.split(r"[^a-z0-9]+", key.lower()) if word}
    return words | {key.lower().replace("_", "").replace("-", "")}


def check_printable(receipt: Receipt) -> None:
    """Raise :class:`ReceiptContentError` if ``receipt`` names anything that must not print."""
    texts = [receipt.title, receipt.footer or ""]
    for line in receipt.lines:
        if _key_words(line.key) & FORBIDDEN_KEY_WORDS:
            # Name the key, never the value: the value may be the secret itself.
            raise ReceiptContentError(f"receipt line {line.key!r} must never be printed")
        texts.append(line.label)
    for text in texts:
        folded = text.casefold()
        for phrase in FORBIDDEN_PHRASES:
            if phrase in folded:
                raise ReceiptContentError(f"receipt text naming {phrase!r} must never be printed")


class ReceiptLayout:
    """Lays receipts out for one printer model (paper width, fonts, Thai mode).

    ``local_time`` is the deployment's zone and calendar (the station's ``[local_time]``):
    the receipt's date reads like every other time the station shows.
    """

    def __init__(
        self, config: LayoutConfig | None = None, *, local_time: LocalTime | None = None
    ) -> None:
        self.config = config or LayoutConfig()
        self.local_time = local_time or LocalTime()
        self.imager: TextImager | None = None
        if self.config.text_mode == "image":
            font = find_thai_font(self.config.font)
            self.imager = TextImager(font, self.config.paper_width_px)
        # Fail now, not at the first receipt, if the profile cannot encode Thai.
        self.render(Receipt(title="ทดสอบ", issued_at=datetime(2025, 1, 1, tzinfo=UTC)))

    def date_text(self, moment: datetime) -> str:
        """How a receipt writes ``moment``: the deployment's zone and calendar, in Thai."""
        return format_moment(moment, self.local_time, RECEIPT_LANGUAGE)

    def render(self, receipt: Receipt) -> bytes:
        """The complete ESC/POS job for ``receipt``."""
        try:
            printer = Dummy(profile=self.config.profile)
        except Exception as exc:  # python-escpos raises its own base class for a bad profile
            raise HardwareConfigError(f"printer profile {self.config.profile!r}: {exc}") from None
        self.compose(receipt, printer)
        return printer.output

    def compose(self, receipt: Receipt, printer: Escpos) -> None:
        """Write ``receipt`` to ``printer``: header, lines, number, date, QR, cut."""
        printer.hw("INIT")
        printer.set(align="center")
        if self.imager is not None:
            self._compose_image(receipt, printer, self.imager)
        else:
            self._compose_codepage(receipt, printer)
        printer.cut()

    # --- image mode: every line of text is a raster image -------------------------------

    def _compose_image(self, receipt: Receipt, printer: Escpos, imager: TextImager) -> None:
        size, title_size = self.config.font_size, self.config.title_size
        normal = Style(size)
        printer.image(
            imager.render(imager.paragraph(receipt.title, Style(title_size, True, "center")))
        )
        printer.image(self._rule())
        rows: list[Row] = []
        for line in receipt.lines:
            rows += imager.pair(line.label, line.value, normal)
        rows += imager.pair(receipt.date_label, self.date_text(receipt.issued_at), normal)
        printer.image(imager.render(rows))
        if receipt.number:
            printer.image(self._rule())
            printer.image(
                imager.render(
                    imager.paragraph(receipt.number_label, Style(size, False, "center"))
                    + imager.paragraph(receipt.number, Style(title_size, True, "center"))
                )
            )
        if receipt.tracking_url:
            printer.image(
                imager.render(
                    imager.paragraph(receipt.tracking_caption, Style(size, False, "center"))
                )
            )
            printer.qr(receipt.tracking_url, ec=QR_ECLEVEL_M, size=self.config.qr_size, native=True)
            printer.image(
                imager.render(
                    imager.paragraph(receipt.tracking_url, Style(size * 3 // 4, False, "center"))
                )
            )
        if receipt.footer:
            printer.image(self._rule())
            printer.image(
                imager.render(imager.paragraph(receipt.footer, Style(size, False, "center")))
            )

    def _rule(self) -> Image.Image:
        """A thin full-width line between sections."""
        width = self.config.paper_width_px
        image = Image.new("1", (width, 12), 1)
        ImageDraw.Draw(image).line((4, 5, width - 5, 5), fill=0, width=2)
        return image

    # --- code-page mode: the printer's own font, Thai as CP874 bytes --------------------

    def _compose_codepage(self, receipt: Receipt, printer: Escpos) -> None:
        try:
            printer.charcode(self.config.codepage)
        except Exception as exc:  # python-escpos: the profile has no such code page
            raise HardwareConfigError(
                f"profile {self.config.profile!r} has no code page {self.config.codepage!r}: {exc}"
            ) from None
        columns = self.config.paper_width_px // 12  # font A is 12 dots wide
        printer.set(bold=True, double_width=True, double_height=True)
        for line in _wrap_columns(receipt.title, columns // 2):
            printer.textln(line)
        printer.set(bold=False, normal_textsize=True)
        printer.textln("-" * columns)
        printer.set(align="left")
        pairs = [(line.label, line.value) for line in receipt.lines]
        pairs.append((receipt.date_label, self.date_text(receipt.issued_at)))
        for label, value in pairs:
            for line in _pair_columns(label, value, columns):
                printer.textln(line)
        printer.set(align="center")
        if receipt.number:
            printer.textln("-" * columns)
            printer.textln(receipt.number_label)
            printer.set(bold=True, double_height=True)
            printer.textln(receipt.number)
            printer.set(bold=False, normal_textsize=True)
        if receipt.tracking_url:
            printer.textln(receipt.tracking_caption)
            printer.qr(receipt.tracking_url, ec=QR_ECLEVEL_M, size=self.config.qr_size, native=True)
            printer.textln(receipt.tracking_url)
        if receipt.footer:
            printer.textln("-" * columns)
            for line in _wrap_columns(receipt.footer, columns):
                printer.textln(line)


def text_columns(text: str) -> int:
    """Columns ``text`` takes in a printer font: Thai vowel and tone marks take none."""
    return sum(
        1 for char in text if not unicodedata.combining(char) and unicodedata.category(char) != "Mn"
    )


def _wrap_columns(text: str, columns: int) -> list[str]:
    """Break at spaces, else between character clusters (Thai runs have no spaces)."""
    lines: list[str] = []
    line = ""
    for word in text.split(" "):
        candidate = f"{line} {word}" if line else word
        if text_columns(candidate) <= columns:
            line = candidate
            continue
        if line:
            lines.append(line)
        line = ""
        for unit in clusters(word):
            if line and text_columns(line + unit) > columns:
                lines.append(line)
                line = ""
            line += unit
    lines.append(line)
    return lines


def _pair_columns(label: str, value: str, columns: int) -> list[str]:
    gap = columns - text_columns(label) - text_columns(value)
    if gap >= 2:
        return [label + " " * gap + value]
    return _wrap_columns(label, columns) + [
        "  " + line for line in _wrap_columns(value, columns - 2)
    ]
