"""The station's devices, opened from its config and wired to the daemon.

:class:`StationHardware` owns the card reader, the receipt printer (with the worker that
prints the receipt spool), the GPIO panel and the watchdog link. Each is optional: a config
without the section means the device is not fitted. Everything the devices report that the
operations dashboard needs (paper, tamper, watchdog resets) reaches the server through
:meth:`StationHardware.metrics`, which the sync agent adds to every heartbeat.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import datetime

from device import __version__
from device.config import StationConfig
from device.receipts import ReceiptSpool, ReceiptWorker
from device.store import Store
from hardware.card import CardEvent, ThaiIdCardReader
from hardware.exc import HardwareError, PrinterError
from hardware.gpio import GpioPanel
from hardware.gpio.panel import MotionEvent, TamperEvent
from hardware.printer import PrinterStatus, Receipt, ReceiptLine, ReceiptPrinter, open_printer
from hardware.watchdog import WatchdogLink, open_watchdog
from hardware.watchdog.protocol import Event as WatchdogEvent

log = logging.getLogger(__name__)

#: Heartbeat metric values for the printer's state (a heartbeat metric is a number).
PRINTER_STATES = {
    "ok": 0,
    "paper-low": 1,
    "paper-out": 2,
    "cover-open": 3,
    "error": 4,
    "offline": 5,
    "unknown": 6,
}


class StationHardware:
    """The fitted devices of one station; :meth:`start` puts them to work, :meth:`close` ends.

    Opening a device that is configured but absent raises (a kiosk must not run without its
    reader), except the printer, which may be switched off at start: its worker waits for it.
    """

    def __init__(self, config: StationConfig, store: Store) -> None:
        self.config = config
        self.card: ThaiIdCardReader | None = None
        self.printer: ReceiptPrinter | None = None
        self.receipts: ReceiptWorker | None = None
        self.gpio: GpioPanel | None = None
        self.watchdog: WatchdogLink | None = None
        self.spool = ReceiptSpool(store)
        self._lock = threading.Lock()
        self._tamper_open = False
        self._tamper_events = 0
        self._motion_events = 0
        self._watchdog_resets: int | None = None
        #: Called with each card event (the kiosk subscribes here).
        self.card_listeners: list[Callable[[CardEvent], None]] = []
        try:
            self._open()
        except BaseException:
            self.close()
            raise

    def _open(self) -> None:
        config = self.config
        if config.gpio is not None:
            self.gpio = GpioPanel(config.gpio)
            self.gpio.when_tamper = self._on_tamper
            self.gpio.when_motion = self._on_motion
            self.gpio.show("busy")  # starting up
        if config.printer is not None:
            self.printer = open_printer(config.printer, connect=False, local_time=config.local_time)
            self.printer.when_paper_out = self._on_paper_trouble
            self.printer.when_offline = self._on_paper_trouble
            self.printer.when_ready = self._on_paper_back
            self.receipts = ReceiptWorker(self.spool, self.printer)
        if config.card is not None:
            self.card = ThaiIdCardReader(config.card)
            self.card.when_inserted = self._on_card
            self.card.when_removed = self._on_card
        if config.watchdog is not None:
            self.watchdog = open_watchdog(config.watchdog, on_event=self._on_watchdog_event)
            info = self.watchdog.info
            self._watchdog_resets = info.resets if info is not None else None
            if info is not None and info.resets:
                # Said once at start so an operator sees it; the count also goes out in telemetry.
                log.warning(
                    "the watchdog board reset this station %d time(s), last because %s",
                    info.resets,
                    info.last_reason,
                )

    # --- life cycle ---------------------------------------------------------------------

    def start(self, healthy: Callable[[], bool] | None = None) -> StationHardware:
        """Print queued receipts, arm the watchdog (beating while ``healthy()``), show ready."""
        if self.receipts is not None:
            self.receipts.start()
        if self.watchdog is not None:
            self.watchdog.arm()
            self.watchdog.start_heartbeat(healthy=healthy)
        self._show_idle()
        return self

    def close(self) -> None:
        """Stop the workers, disarm the watchdog (a clean stop is not a hang), close devices."""
        if self.receipts is not None:
            self.receipts.stop()
        if self.watchdog is not None and not self.watchdog.closed:
            try:
                self.watchdog.stop_heartbeat()
                self.watchdog.disarm()
            except HardwareError as exc:
                log.warning("could not disarm the watchdog: %s", exc)
            self.watchdog.close()
        if self.card is not None:
            self.card.close()
        if self.printer is not None:
            self.printer.close()
        if self.gpio is not None and not self.gpio.closed:
            self.gpio.show("off")
            self.gpio.close()

    def __enter__(self) -> StationHardware:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # --- what the devices say -----------------------------------------------------------

    def _on_card(self, event: CardEvent) -> None:
        # The reader's name and the event kind only: who the card belongs to is never logged.
        log.info("card %s in %s", event.kind, event.reader)
        if self.gpio is not None:
            if event.kind == "inserted":
                self.gpio.show("busy")
                self.gpio.beep()
            else:
                self._show_idle()
        for listener in list(self.card_listeners):
            try:
                listener(event)
            except Exception:
                log.exception("a card listener failed")

    def _on_tamper(self, event: TamperEvent) -> None:
        with self._lock:
            self._tamper_open = event.opened
            self._tamper_events += 1
        log.warning("enclosure %s", "opened" if event.opened else "closed")
        if self.gpio is not None:
            self.gpio.alarm(event.opened)
        self._show_idle()

    def _on_motion(self, event: MotionEvent) -> None:
        with self._lock:
            self._motion_events += 1

    def _on_paper_trouble(self, status: PrinterStatus) -> None:
        log.warning("printer %s: receipts wait in the spool", status.state)
        self._show_idle()

    def _on_paper_back(self, status: PrinterStatus) -> None:
        log.info("printer %s: printing the spool", status.state)
        self._show_idle()

    def _on_watchdog_event(self, event: WatchdogEvent) -> None:
        log.warning("watchdog board: %s", event.kind)

    def _show_idle(self) -> None:
        """Ready, or fault while the printer cannot print or the enclosure is open."""
        if self.gpio is None or self.gpio.closed:
            return
        fault = self._tamper_open or (
            self.printer is not None
            and self.printer.last_status is not None
            and not self.printer.last_status.can_print
        )
        self.gpio.show("fault" if fault else "ready")

    # --- telemetry ----------------------------------------------------------------------

    def metrics(self) -> dict[str, float]:
        """Gauges for the heartbeat: numbers only, nothing about any resident."""
        figures: dict[str, float] = {}
        if self.printer is not None:
            figures["printer_state"] = PRINTER_STATES.get(self.printer.state, 6)
            counts = self.spool.counts()
            figures["receipts_queued"] = counts["queued"]
            figures["receipts_failed"] = counts["failed"]
        if self.card is not None:
            figures["card_readers"] = len(self.card.readers)
            figures["card_present"] = float(self.card.card_present)
        if self.gpio is not None:
            with self._lock:
                figures["tamper_open"] = float(self._tamper_open)
                figures["tamper_events"] = self._tamper_events
                figures["motion_events"] = self._motion_events
        if self.watchdog is not None:
            if self._watchdog_resets is not None:
                figures["watchdog_resets"] = self._watchdog_resets
            figures["watchdog_link_ok"] = float(self.watchdog.heartbeat_error is None)
        return figures

    # --- remote commands ----------------------------------------------------------------

    def print_test_page(self, station_id: str, now: datetime) -> str:
        """Print a test page now (no resident data on it); returns the printer's state."""
        if self.printer is None:
            raise PrinterError("no printer is fitted to this station")
        receipt = Receipt(
            title="หน้าทดสอบ / Test page",
            issued_at=now,
            lines=(
                ReceiptLine("station", "สถานี / Station", station_id),
                ReceiptLine("software", "ซอฟต์แวร์ / Software", __version__),
            ),
            footer="ทดสอบเครื่องพิมพ์ ก ข ค ฆ ง / printer test",
        )
        return self.printer.print_receipt(receipt).state
