"""Printer settings as msgspec Structs (the station config embeds :class:`PrinterConfig`).

Which printer: ``backend`` ``real`` talks to the hardware over ``transport``; ``virtual`` talks
to the virtual network printer (:mod:`hardware.printer.virtual`) through the same raw-TCP code.
How Thai is printed: ``layout.text_mode`` ``image`` (rendered with a Thai font, sent as raster
images, works on any printer) or ``codepage`` (the printer's own CP874 font, if it has one).
"""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec

from hardware.exc import HardwareConfigError

Port = Annotated[int, msgspec.Meta(ge=1, le=65535)]
Seconds = Annotated[float, msgspec.Meta(gt=0, le=600)]


class _Settings(msgspec.Struct, kw_only=True, forbid_unknown_fields=True, frozen=True):
    pass


class NetworkConfig(_Settings):
    """A printer on the LAN taking raw ESC/POS on TCP (JetDirect / "port 9100")."""

    host: str = "192.168.1.87"
    port: Port = 9100
    timeout_s: Seconds = 5.0


class UsbConfig(_Settings):
    """A USB printer driven directly with pyusb (the kernel's usblp driver is detached)."""

    vendor_id: Annotated[int, msgspec.Meta(ge=0, le=0xFFFF)] = 0x04B8  # Epson
    product_id: Annotated[int, msgspec.Meta(ge=0, le=0xFFFF)] = 0x0202
    in_ep: int = 0x82
    out_ep: int = 0x01
    timeout_s: Seconds = 5.0


class FileConfig(_Settings):
    """A printer device file (``/dev/usb/lp0``); write-only, so its paper status is unknown."""

    path: str = "/dev/usb/lp0"


class SerialConfig(_Settings):
    """A printer on a serial line."""

    device: str = "/dev/ttyUSB0"
    baudrate: int = 19200
    timeout_s: Seconds = 2.0


class VirtualConfig(_Settings):
    """Where the virtual network printer listens (``python -m hardware.printer.virtual``)."""

    host: str = "127.0.0.1"
    port: Port = 9100
    timeout_s: Seconds = 5.0


class LayoutConfig(_Settings):
    """How receipts are laid out and how Thai text reaches the paper."""

    text_mode: Literal["image", "codepage"] = "image"
    #: A font file path or a fontconfig family; ``None`` picks the first Thai font installed.
    font: str | None = None
    font_size: Annotated[int, msgspec.Meta(ge=12, le=96)] = 26
    title_size: Annotated[int, msgspec.Meta(ge=12, le=128)] = 36
    #: Printable width in dots: 576 for 80 mm paper at 203 dpi, 384 for 58 mm.
    paper_width_px: Annotated[int, msgspec.Meta(ge=128, le=1024)] = 576
    #: python-escpos capability profile; it maps code-page names to the printer's numbers.
    profile: str = "TM-P80"
    codepage: str = "CP874"
    qr_size: Annotated[int, msgspec.Meta(ge=1, le=16)] = 6
    # The time zone and calendar of the date are the station's ``[local_time]``, not the
    # printer's: the station passes them to the layout (open_printer's ``local_time``).


class PrinterConfig(_Settings):
    """Everything about the station's receipt printer."""

    #: ``None``: the ``STATION_PRINTER_BACKEND`` variable, else ``real``.
    backend: Literal["real", "virtual"] | None = None
    transport: Literal["network", "usb", "file", "serial"] = "network"
    network: NetworkConfig = msgspec.field(default_factory=NetworkConfig)
    usb: UsbConfig = msgspec.field(default_factory=UsbConfig)
    file: FileConfig = msgspec.field(default_factory=FileConfig)
    serial: SerialConfig = msgspec.field(default_factory=SerialConfig)
    virtual: VirtualConfig = msgspec.field(default_factory=VirtualConfig)
    layout: LayoutConfig = msgspec.field(default_factory=LayoutConfig)


def printer_config(data: dict | None = None) -> PrinterConfig:
    """Validate a mapping (the ``[printer]`` table of the station config) into a config."""
    try:
        return msgspec.convert(data or {}, PrinterConfig)
    except msgspec.ValidationError as exc:
        raise HardwareConfigError(f"invalid printer config: {exc}") from None
