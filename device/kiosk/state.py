"""The kiosk's state: the current visit, fed by card events, ended by removal or idleness.

:class:`KioskState` listens to the card reader (``StationHardware.card_listeners``). On an
insertion it starts a visit at once (the screen can switch to "reading" while the card is
read), then reads the card, its photo and the insured-person record on a worker thread. On
a removal it drops the visit and tells the screen, which clears itself. A ticker thread ends
idle visits and reports the printer's state changes; the station's link to the broker
reports going up and down. All of it reaches the page as server-sent events
(:mod:`device.kiosk.events`), so the footer's online/offline label follows the link live.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from contract.bills import PaymentNotice
from device.config import KioskConfig
from device.kiosk.counter import Counter
from device.kiosk.events import Event, EventBus
from device.kiosk.guidance import Guide
from device.kiosk.lookup import RecordView, find_record
from device.kiosk.payments import PaymentWatch
from device.kiosk.services import ServiceClient
from device.kiosk.visit import Visit
from hardware.card import CardEvent
from hardware.exc import CardError, HardwareError

if TYPE_CHECKING:
    from device.station import Station

log = logging.getLogger(__name__)

TICK_S = 0.25
#: "More time" at most this many times the configured idle timeout (WCAG 2.2.1 asks for at
#: least ten extensions: the countdown's own "More time" adds any number on top).
MAX_PATIENCE = 5


class VisitGoneError(Exception):
    """The page or form belongs to a visit that has ended (card removed, timed out)."""


class KioskState:
    """The one visit at a time of one kiosk screen."""

    def __init__(
        self,
        station: Station,
        config: KioskConfig,
        *,
        find: Callable[[Station, str], RecordView] = find_record,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.station = station
        self.config = config
        self.bus = EventBus()
        self.services = ServiceClient(
            station.sync.link, timeout_s=station.config.sync.lookup_timeout_s
        )
        #: Counter mode (seed 003): the officer's session; None at a public kiosk.
        self.counter = Counter(self.services) if config.counter_mode else None
        #: Spoken guidance ("Listen" on every screen).
        self.guide = Guide(
            enabled=config.guidance,
            wav_dir=Path(config.guidance_wav_dir) if config.guidance_wav_dir else None,
        )
        self._find = find
        self._clock = clock
        self._lock = threading.RLock()
        self._visit: Visit | None = None
        self._printer_state: str | None = None
        self._locked: bool | None = None
        self._stop = threading.Event()
        self._ticker: threading.Thread | None = None
        #: Wall-clock time of the last card event (for the kiosk benchmark; not personal).
        self.last_card_event_at: float | None = None
        self._page_alive_at: float | None = None
        # Called on paho's network thread; the bus is thread-safe.
        station.sync.link.on_connected(self._announce_link)
        station.sync.link.on_disconnected(self._announce_link)
        #: Payment notices from the server, for the visit showing a QR (bills, insurance).
        self.payments = PaymentWatch(station.sync.link, self._current_visit, self._paid)
        self._notice_ids: str | None = None

    # -- payments ------------------------------------------------------------------------

    def _current_visit(self) -> Visit | None:
        with self._lock:
            visit = self._visit
            return visit if visit is not None and visit.state != "ended" else None

    def _paid(self, visit: Visit, notice: PaymentNotice) -> None:
        """Print the receipt of a payment the visit on screen made (once per payment)."""
        from device.kiosk.receipts import paid_receipt

        flow = visit.flows.get("pay", {})
        hardware = self.station.hardware
        if hardware is None or hardware.printer is None:
            return
        try:
            receipt_id = self.station.receipts.queue(
                "bills.paid", paid_receipt(flow.get("items", []), notice)
            )
        except Exception:
            log.exception("payment receipt could not be queued")
            return
        flow["receipt"] = receipt_id

    # -- the page's heartbeat ------------------------------------------------------------

    def page_alive(self) -> None:
        """The kiosk page's script ran just now."""
        self._page_alive_at = self._clock()

    def page_alive_age(self) -> float | None:
        """Seconds since the page's last heartbeat; ``None`` if none came yet."""
        at = self._page_alive_at
        return None if at is None else max(0.0, self._clock() - at)

    # -- life cycle ----------------------------------------------------------------------

    def start(self) -> KioskState:
        """Listen to the card reader and start the ticker."""
        hardware = self.station.hardware
        if hardware is not None and self._on_card not in hardware.card_listeners:
            hardware.card_listeners.append(self._on_card)
            if hardware.card is not None and hardware.card.card_present:
                # A card already in at start: treat it as inserted now.
                self._insert()
        if self._ticker is None:
            self._stop.clear()
            self._ticker = threading.Thread(target=self._tick_loop, name="kiosk-tick", daemon=True)
            self._ticker.start()
        return self

    def stop(self) -> None:
        """Stop listening, drop the visit, end the event streams; safe twice."""
        hardware = self.station.hardware
        if hardware is not None and self._on_card in hardware.card_listeners:
            hardware.card_listeners.remove(self._on_card)
        self._stop.set()
        self.guide.stop()
        ticker, self._ticker = self._ticker, None
        if ticker is not None:
            ticker.join()
        with self._lock:
            if self._visit is not None:
                self._visit.forget()
            self._visit = None
        self.bus.close()

    # -- what the pages ask --------------------------------------------------------------

    @property
    def visit(self) -> Visit | None:
        """The current visit, if any."""
        return self._visit

    @property
    def card_present(self) -> bool:
        """Whether a card is in the reader now."""
        hardware = self.station.hardware
        return bool(hardware and hardware.card and hardware.card.card_present)

    def check(self, token: str | None) -> Visit:
        """The current visit if ``token`` names it (and count it as activity); else raise."""
        with self._lock:
            visit = self._visit
            if visit is None or not token or token != visit.token or visit.state == "ended":
                raise VisitGoneError("this page belongs to a visit that has ended")
            visit.last_activity = self._clock()
            return visit

    def card_visit(self) -> Visit | None:
        """The current visit if a card started it and it has not ended."""
        visit = self._visit
        if visit is None or not visit.card_visit or visit.state == "ended":
            return None
        return visit

    def open_visit(self) -> Visit:
        """The current visit, or a new visit without a card (petitions, tracking by number)."""
        with self._lock:
            visit = self._visit
            if visit is not None and visit.state != "ended":
                visit.last_activity = self._clock()
                return visit
            if visit is not None and visit.card_visit and self.card_present:
                # The card's visit ended but the card is still in: the resident starts again
                # with it rather than being sent home to pull it out.
                return self._start_card_visit()
            self._visit = Visit.new(card_visit=False, clock=self._clock())
            self._visit.ready.set()
            self._announce()
            return self._visit

    def start_again(self) -> Visit | None:
        """A new visit with the card still in the reader, after the last one ended (idle
        timeout, "finish"); the card is read again. None when there is nothing to restart:
        no card in, or a visit still going (which is kept as it is)."""
        with self._lock:
            visit = self._visit
            if visit is None or not visit.card_visit or visit.state != "ended":
                return None
            if not self.card_present:
                return None
            return self._start_card_visit()

    def end(self, token: str | None, reason: str = "finished") -> None:
        """End the visit ``token`` names (the resident finished, or the countdown ran out)."""
        with self._lock:
            visit = self._visit
            if visit is None or token != visit.token:
                return
            self._end(visit, reason)

    def wait_ready(self, visit: Visit, timeout_s: float) -> bool:
        """Wait until the visit's card and record are read (or failed)."""
        return visit.ready.wait(timeout_s)

    def status(self) -> list[Event]:
        """The events that describe the state now (sent first on every new stream)."""
        return [
            self._visit_event(),
            Event("printer", {"state": self._printer_state or "none"}),
            Event("service", {"locked": self._service_locked()}),
            self._link_event(),
            Event("notices", {"ids": self.notice_ids()}),
        ]

    def notice_ids(self) -> str:
        """The ids of the notices showing now (the home screen reloads when they change)."""
        board = self.station.notices
        return ",".join(n.notice_id for n in board.current()) if board is not None else ""

    # -- card events ---------------------------------------------------------------------

    def _on_card(self, event: CardEvent) -> None:
        self.last_card_event_at = time.time()
        if event.kind == "inserted":
            self._insert()
        else:
            self._remove()

    def _insert(self) -> None:
        self._start_card_visit()

    def _start_card_visit(self) -> Visit:
        """Drop any visit, start one for the card in the reader and read it on a worker."""
        with self._lock:
            if self._visit is not None:
                self._visit.forget()
            visit = Visit.new(card_visit=True, clock=self._clock())
            self._visit = visit
            self._announce()
        threading.Thread(target=self._read, args=(visit,), name="kiosk-read", daemon=True).start()
        return visit

    def _remove(self) -> None:
        with self._lock:
            visit, self._visit = self._visit, None
            if visit is not None:
                visit.forget()
            self._announce(reason="card_removed")

    def _read(self, visit: Visit) -> None:
        """Read the card, its photo and the record; drop all of it if the card left meanwhile."""
        hardware = self.station.hardware
        try:
            assert hardware is not None and hardware.card is not None
            card = hardware.card.read()
            photo = hardware.card.read_photo()
        except (CardError, HardwareError) as exc:
            log.warning("card could not be read: %s", type(exc).__name__)
            with self._lock:
                if self._visit is visit:
                    visit.state = "card_error"
                    visit.error = "card_unreadable"
                    visit.ready.set()
                    self._announce()
            return
        record = self._find(self.station, card.citizen_id)
        with self._lock:
            if self._visit is not visit:
                return  # the card left while we read: keep nothing
            visit.card, visit.photo, visit.record = card, photo, record
            visit.state = "ready"
            visit.ready.set()
            self._announce()

    # -- ending visits -------------------------------------------------------------------

    def _end(self, visit: Visit, reason: str) -> None:
        visit.forget()
        if visit.card_visit and self.card_present:
            visit.state = "ended"  # the card is still in: the screen offers to start again
            visit.end_reason = reason
            self._announce(reason=reason)
        else:
            self._visit = None
            self._announce(reason=reason)

    def idle_timeout_s(self, visit: Visit | None) -> float:
        """How long ``visit`` may go untouched: the configured timeout, times the extra
        time the resident asked for ("More time")."""
        patience = visit.patience if visit is not None else 1
        return self.config.idle_timeout_s * patience

    def more_time(self, token: str | None) -> Visit:
        """ "More time": every timeout of this visit grows by one more idle period (up to
        :data:`MAX_PATIENCE` of them); counts as activity. Raises :class:`VisitGoneError`."""
        with self._lock:
            visit = self.check(token)
            visit.patience = min(visit.patience + 1, MAX_PATIENCE)
            return visit

    def expire_idle(self) -> None:
        """End the visit when nobody touched the screen for ``idle_timeout_s``."""
        with self._lock:
            visit = self._visit
            if visit is None or visit.state in ("ended", "reading"):
                return
            idle_s = self.idle_timeout_s(visit)
            if self._clock() - visit.last_activity >= idle_s:
                log.info("visit ended after %.0f s idle", idle_s)
                self._end(visit, "timeout")

    def _tick_loop(self) -> None:
        while not self._stop.wait(TICK_S):
            try:
                self.expire_idle()
                self._poll_printer()
                self._poll_service_lock()
                self._poll_notices()
            except Exception:
                log.exception("kiosk tick failed")

    def _poll_printer(self) -> None:
        hardware = self.station.hardware
        printer = hardware.printer if hardware is not None else None
        state = printer.state if printer is not None else "none"
        if state != self._printer_state:
            self._printer_state = state
            self.bus.publish("printer", state=state)

    def _service_locked(self) -> bool:
        lock = self.station.service_lock
        return lock is not None and lock.locked

    def _poll_service_lock(self) -> None:
        """Tell the page when operations lock or unlock the kiosk: the out-of-service screen
        goes home by itself when unlocked, and a screen in use gives way when locked."""
        locked = self._service_locked()
        if locked != self._locked:
            self._locked = locked
            self.bus.publish("service", locked=locked)

    def _poll_notices(self) -> None:
        """A notice arrived, was withdrawn, started or ended (by the station's clock, with or
        without the network): tell the page."""
        ids = self.notice_ids()
        if ids != self._notice_ids:
            self._notice_ids = ids
            self.bus.publish("notices", ids=ids)

    # -- events --------------------------------------------------------------------------

    def _visit_event(self, reason: str | None = None) -> Event:
        visit = self._visit
        return Event(
            "visit",
            {
                # Never the token: any page may open the stream (see Visit.public_id).
                "visit": visit.public_id if visit is not None else "",
                "state": visit.state if visit is not None else "none",
                "card": visit.card_visit if visit is not None else False,
                "card_present": self.card_present,
                "reason": reason,
            },
        )

    def _link_event(self) -> Event:
        return Event("link", {"state": "online" if self.station.sync.link.connected else "offline"})

    def _announce_link(self) -> None:
        event = self._link_event()
        self.bus.publish(event.name, **event.data)

    def _announce(self, reason: str | None = None) -> None:
        event = self._visit_event(reason)
        self.bus.publish(event.name, **event.data)
