"""The receipt printer: status, paper events and whole jobs over one transport.

A job is composed completely first (:class:`~hardware.printer.layout.ReceiptLayout`), then
:meth:`ReceiptPrinter.print_job` asks the paper status, sends the bytes, and asks again: a
job counts as printed only when the printer still reports paper afterwards. A printer that
runs out in the middle keeps taking bytes but prints nothing more, so "sent" is not "printed".
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from contract.local_time import LocalTime
from hardware.backend import choose_backend
from hardware.exc import PaperOutError, PrinterOfflineError
from hardware.printer import status as st
from hardware.printer.config import PrinterConfig
from hardware.printer.layout import Receipt, ReceiptLayout
from hardware.printer.status import PrinterStatus
from hardware.printer.transport import (
    FileTransport,
    NetworkTransport,
    SerialTransport,
    Transport,
    UsbTransport,
)

log = logging.getLogger(__name__)

StatusCallback = Callable[[PrinterStatus], None]


class ReceiptPrinter:
    """A printer behind a :class:`Transport`, with paper-status callbacks.

    The ``when_*`` callbacks (as in gpiozero) are called with the new status when the state
    changes: ``when_paper_low``, ``when_paper_out`` (also a cover opened), ``when_offline``
    and ``when_ready`` (back to ``ok`` or ``paper-low`` from something worse). They run in the
    thread that asked for the status, after the printer's lock is released.

    The connection is made by :meth:`open`. After the link drops, the next status request or
    job reconnects at its start, never in the middle of one.
    """

    def __init__(self, transport: Transport, layout: ReceiptLayout | None = None) -> None:
        self._transport: Transport | None = None
        self._lock = threading.Lock()  # one job or status exchange on the link at a time
        self._state_lock = threading.Lock()
        self._last: PrinterStatus | None = None
        self.when_paper_low: StatusCallback | None = None
        self.when_paper_out: StatusCallback | None = None
        self.when_offline: StatusCallback | None = None
        self.when_ready: StatusCallback | None = None
        self.layout = layout or ReceiptLayout()
        self._transport = transport

    # --- life cycle ----------------------------------------------------------------------

    def open(self) -> ReceiptPrinter:
        """Connect to the printer; raises :class:`PrinterOfflineError` if it does not answer."""
        transport = self._require_transport()
        with self._lock:
            transport.open()
        return self

    def close(self) -> None:
        """Disconnect; safe to call twice."""
        transport, self._transport = self._transport, None
        if transport is not None:
            with self._lock:
                transport.close()

    @property
    def closed(self) -> bool:
        """Whether :meth:`close` was called."""
        return self._transport is None

    def __enter__(self) -> ReceiptPrinter:
        return self.open()

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        if self._transport is None:
            return "<ReceiptPrinter closed>"
        return f"<ReceiptPrinter at {self._transport.where} state={self.state}>"

    @property
    def where(self) -> str:
        """The printer's address (``host:port``, device path) for messages."""
        return self._require_transport().where

    # --- status --------------------------------------------------------------------------

    @property
    def state(self) -> str:
        """The last state seen (``unknown`` before the first status request)."""
        return "unknown" if self._last is None else self._last.state

    @property
    def last_status(self) -> PrinterStatus | None:
        """The last status read, without asking the printer."""
        return self._last

    def status(self) -> PrinterStatus:
        """Ask the printer (``DLE EOT`` 1, 2 and 4) and fire the callbacks of a state change.

        Raises :class:`PrinterOfflineError` when it does not answer.
        """
        transport = self._require_transport()
        try:
            with self._lock:
                result = self._query(transport)
        except PrinterOfflineError:
            self._observe(st.NO_ANSWER)
            raise
        self._observe(result)
        return result

    def _query(self, transport: Transport) -> PrinterStatus:
        """The status, reconnecting first if the link dropped; call with the lock held."""
        if transport.closed:
            transport.open()
        printer = transport.request_status(st.PRINTER)
        if printer is None:
            return st.UNVERIFIED
        cause = transport.request_status(st.OFFLINE_CAUSE)
        paper = transport.request_status(st.PAPER)
        return st.parse(printer, cause or st.FIXED_BITS, paper or st.FIXED_BITS)

    def _observe(self, status: PrinterStatus) -> None:
        with self._state_lock:
            previous, self._last = self._last, status
        if previous is not None and previous.state == status.state:
            return
        if previous is None and status.state == "ok":
            return  # a first reading of "fine" is not news
        log.info(
            "printer %s -> %s", "unknown" if previous is None else previous.state, status.state
        )
        callbacks = []
        if status.can_print and previous is not None and not previous.can_print:
            callbacks.append(self.when_ready)
        callbacks.append(
            {
                "paper-low": self.when_paper_low,
                "paper-out": self.when_paper_out,
                "cover-open": self.when_paper_out,
                "offline": self.when_offline,
                "error": self.when_offline,
            }.get(status.state)
        )
        for callback in callbacks:
            if callback is not None:
                callback(status)

    # --- printing ------------------------------------------------------------------------

    def render(self, receipt: Receipt) -> bytes:
        """The ESC/POS job for ``receipt`` (nothing is sent)."""
        return self.layout.render(receipt)

    def print_receipt(self, receipt: Receipt) -> PrinterStatus:
        """Compose and print ``receipt``; see :meth:`print_job`."""
        return self.print_job(self.render(receipt))

    def print_job(self, data: bytes) -> PrinterStatus:
        """Send one complete job and make sure it came out whole; returns the status after it.

        Raises :class:`PaperOutError` if the printer cannot print before the job (nothing is
        sent) or reports paper out or cover open after it (the job is incomplete), and
        :class:`PrinterOfflineError` if it does not answer. Either way the caller keeps the
        job and prints it again later.
        """
        transport = self._require_transport()
        try:
            with self._lock:
                before = self._query(transport)
                if before.can_print:
                    transport.write(data)
                    after = self._query(transport)
                else:
                    after = before
        except PrinterOfflineError:
            self._observe(st.NO_ANSWER)
            raise
        if before is not after:
            self._observe(before)
        self._observe(after)
        if not before.can_print:
            raise _not_ready(before, "nothing was sent")
        if not after.can_print:
            raise _not_ready(after, "the job is incomplete")
        return after

    def _require_transport(self) -> Transport:
        transport = self._transport
        if transport is None:
            raise PrinterOfflineError("the printer was closed")
        return transport


def _not_ready(status: PrinterStatus, consequence: str) -> PaperOutError | PrinterOfflineError:
    if status.state in ("paper-out", "cover-open"):
        error: PaperOutError | PrinterOfflineError = PaperOutError(
            f"printer {status.state}: {consequence}"
        )
    else:
        error = PrinterOfflineError(f"printer {status.state}: {consequence}")
    error.status = status  # type: ignore[attr-defined]
    return error


def make_transport(config: PrinterConfig, backend: str) -> Transport:
    """The transport ``backend`` (``real``/``virtual``) uses under ``config``."""
    if backend == "virtual":
        # The virtual printer is a network printer: the same code path as the real one.
        virtual = config.virtual
        return NetworkTransport(
            virtual.host, virtual.port, virtual.timeout_s, profile=config.layout.profile
        )
    profile = config.layout.profile
    if config.transport == "network":
        net = config.network
        return NetworkTransport(net.host, net.port, net.timeout_s, profile=profile)
    if config.transport == "usb":
        u = config.usb
        return UsbTransport(
            u.vendor_id, u.product_id, u.in_ep, u.out_ep, u.timeout_s, profile=profile
        )
    if config.transport == "serial":
        s = config.serial
        return SerialTransport(s.device, s.baudrate, s.timeout_s, profile=profile)
    return FileTransport(config.file.path, profile=profile)


def open_printer(
    config: PrinterConfig | None = None,
    backend: str | None = None,
    *,
    connect: bool = True,
    local_time: LocalTime | None = None,
) -> ReceiptPrinter:
    """Build the printer ``config`` names, choosing ``real``/``virtual`` like the other devices.

    The backend comes from ``backend``, then ``config.backend``, then
    ``STATION_PRINTER_BACKEND``, then ``real``. A printer that is switched off is not a
    reason to fall back to the virtual one: only a missing library is (``real`` over USB
    without pyusb). With ``connect`` the printer is opened; an offline printer raises
    :class:`PrinterOfflineError` (callers that can wait pass ``connect=False``).
    ``local_time`` is the deployment's zone and calendar the receipts' dates are written in.
    """
    config = config or PrinterConfig()
    layout = ReceiptLayout(config.layout, local_time=local_time)
    name, transport = choose_backend(
        "printer",
        {
            "real": lambda: make_transport(config, "real"),
            "virtual": lambda: make_transport(config, "virtual"),
        },
        requested=backend or config.backend,
    )
    log.info("printer backend %s at %s", name, transport.where)
    printer = ReceiptPrinter(transport, layout)
    if connect:
        try:
            printer.open()
        except BaseException:
            printer.close()
            raise
    return printer
