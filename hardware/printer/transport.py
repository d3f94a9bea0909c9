"""How bytes reach the printer: one small class per link, each a python-escpos printer class.

python-escpos's ``Network``, ``Usb``, ``Serial`` and ``File`` already know their links; what
this module adds to each, once, in :class:`Transport`:

* ``open()`` is explicit and the only place a link is made. python-escpos's ``device``
  property opens a closed link on first use, which could reconnect in the middle of a job;
  here ``_raw`` on a closed transport raises :class:`PrinterOfflineError` instead.
* every link error (socket, serial, USB) becomes :class:`PrinterOfflineError` and leaves the
  transport closed, so the next job starts from a fresh connection;
* ``close()`` is safe twice and releases the handle even if the link is already dead;
* :meth:`Transport.request_status` sends ``DLE EOT n`` and reads its one-byte answer.
"""

from __future__ import annotations

import contextlib
import socket
from typing import Any, ClassVar

from escpos.printer import File, Network, Serial, Usb

from hardware.exc import BackendUnavailableError, PrinterOfflineError
from hardware.printer import status as st

try:  # pyserial is a dependency; pyusb is optional (only USB-attached printers need it)
    import serial
except ImportError:  # pragma: no cover - pyserial is in pyproject
    serial = None
try:
    import usb.core
    import usb.util
except ImportError:
    usb = None

#: The errors a link can raise; each means "the printer is not there right now".
_LINK_ERRORS: tuple[type[BaseException], ...] = (OSError,)
if serial is not None:
    _LINK_ERRORS += (serial.SerialException,)
if usb is not None:
    _LINK_ERRORS += (usb.core.USBError,)


class Transport:
    """Mixin over a python-escpos printer class: explicit open, translated errors, status."""

    #: Whether the link can carry the printer's answers back (a device file cannot).
    bidirectional: ClassVar[bool] = True
    _device: Any = False

    @property
    def where(self) -> str:
        """The printer's address for messages (no personal data)."""
        raise NotImplementedError

    @property
    def closed(self) -> bool:
        """Whether the link is down (never opened, closed, or lost)."""
        return not self._device

    def _connect(self) -> Any:
        """Make the link and return its handle; raises a link error."""
        raise NotImplementedError

    def _disconnect(self, device: Any) -> None:
        """Release ``device``; may raise a link error (ignored)."""
        raise NotImplementedError

    def _send(self, device: Any, data: bytes) -> None:
        raise NotImplementedError

    def _receive_byte(self, device: Any) -> bytes:
        """One byte from the printer, or ``b""`` when it did not answer in time."""
        raise NotImplementedError

    def open(self, raise_not_found: bool = True) -> None:
        """Connect; raises :class:`PrinterOfflineError` when the printer does not answer."""
        self.close()
        try:
            device = self._connect()
        except _LINK_ERRORS as exc:
            raise PrinterOfflineError(f"printer at {self.where} does not answer: {exc}") from None
        self._device = device

    def close(self) -> None:
        """Drop the link; safe to call twice, and on a link that is already dead."""
        device, self._device = self._device, False
        if device:
            # The link may be gone already; the handle is released either way.
            with contextlib.suppress(*_LINK_ERRORS):
                self._disconnect(device)

    def _raw(self, msg: bytes) -> None:
        """Send ``msg``; python-escpos's drawing methods all end here."""
        device = self._device
        if not device:
            raise PrinterOfflineError(f"printer at {self.where} is not connected")
        try:
            self._send(device, msg)
        except _LINK_ERRORS as exc:
            self.close()
            raise PrinterOfflineError(f"printer at {self.where} stopped answering: {exc}") from None

    def _read(self) -> bytes:
        device = self._device
        if not device:
            raise PrinterOfflineError(f"printer at {self.where} is not connected")
        try:
            data = self._receive_byte(device)
        except _LINK_ERRORS as exc:
            self.close()
            raise PrinterOfflineError(f"printer at {self.where} stopped answering: {exc}") from None
        if not data:
            # A late answer would be read as the answer to the next request: start afresh.
            self.close()
            raise PrinterOfflineError(f"printer at {self.where} hung up or did not answer")
        return data

    def write(self, data: bytes) -> None:
        """Send a whole job (or any bytes)."""
        self._raw(data)

    def request_status(self, n: int) -> int | None:
        """The answer byte to ``DLE EOT n``; ``None`` if the link cannot carry answers."""
        if not self.bidirectional:
            return None
        self._raw(st.request(n))
        return self._read()[0]


class NetworkTransport(Transport, Network):
    """Raw ESC/POS over TCP, port 9100 on most network printers; also the virtual printer."""

    def __init__(self, host: str, port: int = 9100, timeout_s: float = 5.0, **kwargs: Any) -> None:
        Network.__init__(self, host=host, port=port, timeout=timeout_s, **kwargs)

    @property
    def where(self) -> str:
        """``host:port``."""
        return f"{self.host}:{self.port}"

    def _connect(self) -> socket.socket:
        # create_connection closes its socket itself when connecting fails (no leak).
        sock = socket.create_connection((self.host, self.port), timeout=self.timeout)
        sock.settimeout(self.timeout)
        # A 3-byte status request right after a job would wait for the job's ACK (Nagle and
        # delayed ACK: ~40 ms); the printer should see it at once.
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return sock

    def _disconnect(self, device: socket.socket) -> None:
        try:
            with contextlib.suppress(OSError):  # already reset by the peer
                device.shutdown(socket.SHUT_RDWR)
        finally:
            device.close()

    def _send(self, device: socket.socket, data: bytes) -> None:
        device.sendall(data)

    def _receive_byte(self, device: socket.socket) -> bytes:
        try:
            return device.recv(1)
        except TimeoutError:
            return b""


class SerialTransport(Transport, Serial):
    """A printer on a serial line (RS-232 or a USB-serial adapter)."""

    def __init__(
        self, device: str, baudrate: int = 19200, timeout_s: float = 2.0, **kwargs: Any
    ) -> None:
        if serial is None:  # pragma: no cover - pyserial is a dependency
            raise BackendUnavailableError("pyserial is not installed")
        Serial.__init__(self, devfile=device, baudrate=baudrate, timeout=timeout_s, **kwargs)

    @property
    def where(self) -> str:
        """The serial device path."""
        return self.devfile

    def _connect(self) -> Any:
        return serial.Serial(
            port=self.devfile,
            baudrate=self.baudrate,
            bytesize=self.bytesize,
            parity=self.parity,
            stopbits=self.stopbits,
            timeout=self.timeout,
            write_timeout=max(self.timeout, 30.0),  # a raster receipt takes seconds at 19200
            xonxoff=self.xonxoff,
            dsrdtr=self.dsrdtr,
        )

    def _disconnect(self, device: Any) -> None:
        device.close()

    def _send(self, device: Any, data: bytes) -> None:
        device.write(data)
        device.flush()

    def _receive_byte(self, device: Any) -> bytes:
        return device.read(1)


class FileTransport(Transport, File):
    """A printer device file such as ``/dev/usb/lp0``: write-only, so no status."""

    bidirectional: ClassVar[bool] = False

    def __init__(self, path: str, **kwargs: Any) -> None:
        File.__init__(self, devfile=path, auto_flush=True, **kwargs)

    @property
    def where(self) -> str:
        """The device file path."""
        return self.devfile

    def _connect(self) -> Any:
        return open(self.devfile, "wb", buffering=0)  # closed by close()

    def _disconnect(self, device: Any) -> None:
        device.close()

    def _send(self, device: Any, data: bytes) -> None:
        device.write(data)


class UsbTransport(Transport, Usb):
    """A USB printer claimed directly with pyusb (needs the ``pyusb`` package and libusb)."""

    def __init__(
        self,
        vendor_id: int,
        product_id: int,
        in_ep: int = 0x82,
        out_ep: int = 0x01,
        timeout_s: float = 5.0,
        **kwargs: Any,
    ) -> None:
        if usb is None:
            raise BackendUnavailableError("USB printers need the pyusb package (pip install pyusb)")
        Usb.__init__(
            self,
            idVendor=vendor_id,
            idProduct=product_id,
            timeout=int(timeout_s * 1000),
            in_ep=in_ep,
            out_ep=out_ep,
            **kwargs,
        )

    @property
    def where(self) -> str:
        """``usb:vvvv:pppp``."""
        return f"usb:{self.usb_args['idVendor']:04x}:{self.usb_args['idProduct']:04x}"

    def _connect(self) -> Any:
        device = usb.core.find(**self.usb_args)
        if device is None:
            raise OSError("no such USB device (unplugged?)")
        self._device = device  # python-escpos's helpers below read it from self
        try:
            self._check_driver()
            device.set_configuration()
        finally:
            self._device = False
        return device

    def _disconnect(self, device: Any) -> None:
        usb.util.dispose_resources(device)

    def _send(self, device: Any, data: bytes) -> None:
        device.write(self.out_ep, data, self.timeout)

    def _receive_byte(self, device: Any) -> bytes:
        try:
            return bytes(device.read(self.in_ep, 1, self.timeout))
        except usb.core.USBTimeoutError:
            return b""
