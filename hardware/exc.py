"""The hardware exception tree.

One root, one sub-root per device, and leaves that also inherit the builtin a caller would
naturally catch (as gpiozero does with ``GPIOPinMissing(GPIODeviceError, ValueError)``): a
card pulled mid-read is a ``ConnectionError``, a checksum failure a ``ValueError``.
"""

from __future__ import annotations


class HardwareError(Exception):
    """Root of every hardware error."""


class HardwareConfigError(HardwareError, ValueError):
    """A device's configuration (backend name, pin map, address) is invalid."""


class BackendUnavailableError(HardwareError, RuntimeError):
    """The chosen backend cannot run here (library or device missing)."""


# --- card reader ---------------------------------------------------------------------------


class CardError(HardwareError):
    """Root of smart-card errors."""


class ReaderUnavailableError(CardError, ConnectionError):
    """No reader, the reader was unplugged, or the PC/SC daemon is not running."""


class NoCardError(CardError, LookupError):
    """No card in the reader."""


class CardRemovedError(CardError, ConnectionError):
    """The card was pulled (or lost power) in the middle of a read."""


class NotThaiIdCardError(CardError, ValueError):
    """The card does not carry the Thai national ID applet."""


class CardCommandError(CardError, OSError):
    """The card answered a command with an error status word."""

    def __init__(self, message: str, sw1: int = 0, sw2: int = 0) -> None:
        super().__init__(message)
        self.sw1 = sw1
        self.sw2 = sw2


class CardDataError(CardError, ValueError):
    """A field read from the card fails validation (e.g. the citizen-id checksum)."""

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


# --- receipt printer -----------------------------------------------------------------------


class PrinterError(HardwareError):
    """Root of printer errors."""


class PrinterOfflineError(PrinterError, ConnectionError):
    """The printer does not answer (unplugged, powered off, network down)."""


class PaperOutError(PrinterError, OSError):
    """The printer is out of paper (or the cover is open); the job was not completed."""


class PrinterProtocolError(PrinterError, ValueError):
    """The printer answered a status request with a byte the protocol does not allow."""


class ReceiptContentError(PrinterError, ValueError):
    """A receipt carries something that must never be printed (a password, old-age savings)."""


# --- GPIO panel ----------------------------------------------------------------------------


class GPIOPanelError(HardwareError):
    """Root of GPIO panel errors."""


class GPIOPinMapError(GPIOPanelError, HardwareConfigError):
    """The pin map names a pin twice or a pin the board does not have."""


# --- watchdog board ------------------------------------------------------------------------


class WatchdogError(HardwareError):
    """Root of watchdog-board errors."""


class WatchdogLinkError(WatchdogError, ConnectionError):
    """The serial link to the watchdog board is down."""


class WatchdogProtocolError(WatchdogError, ValueError):
    """The board sent a line the protocol does not allow."""


class WatchdogBoardMissingError(WatchdogLinkError, BackendUnavailableError):
    """No board at the configured serial device (unplugged, or named differently)."""


class WatchdogTimeoutError(WatchdogLinkError, TimeoutError):
    """The board did not answer in time (hung, or not running the watchdog firmware)."""


class WatchdogCommandError(WatchdogError, ValueError):
    """The board refused a command with ``ERR`` (bad argument, unknown command)."""

    def __init__(self, message: str, code: str = "") -> None:
        super().__init__(message)
        self.code = code
