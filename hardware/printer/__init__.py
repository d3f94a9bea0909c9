"""The receipt printer: ESC/POS through python-escpos, Thai as raster images or CP874.

``open_printer(config)`` gives a :class:`ReceiptPrinter` on the configured transport (raw
TCP, USB, serial, device file) or on the virtual network printer; see
``docs/hardware-printer-gpio.md``.
"""

from hardware.printer.config import LayoutConfig, PrinterConfig, printer_config
from hardware.printer.layout import Receipt, ReceiptLayout, ReceiptLine, check_printable
from hardware.printer.printer import ReceiptPrinter, make_transport, open_printer
from hardware.printer.status import Paper, PrinterStatus

__all__ = [
    "LayoutConfig",
    "Paper",
    "PrinterConfig",
    "PrinterStatus",
    "Receipt",
    "ReceiptLayout",
    "ReceiptLine",
    "ReceiptPrinter",
    "check_printable",
    "make_transport",
    "open_printer",
    "printer_config",
]
