"""The station's GPIO parts as small gpiozero-based classes, and the panel that holds them.

* :class:`StatusLeds`: ready / busy / fault, exactly one lit (a ``gpiozero.LEDBoard``).
* :class:`MotionWake`: a PIR module; motion calls ``when_motion`` so the screen wakes.
* :class:`TamperSwitch`: the enclosure switch; opening or closing calls ``when_changed``
  with a timestamped :class:`TamperEvent`, debounced.
* :class:`GpioPanel`: all of them on one pin factory; ``with GpioPanel(config) as panel``.

The pin factory is chosen once (:func:`make_pin_factory`): ``real`` is gpiozero's own
default on the Pi (which honours ``GPIOZERO_PIN_FACTORY``), ``virtual``/``mock`` is
gpiozero's ``MockFactory``, whose pins tests drive with ``drive_high()``/``drive_low()``.
Callbacks run in the thread that saw the edge: gpiozero's pin thread on the Pi, the caller
of ``drive_*`` on mock pins. Keep them short (set a flag, put on a queue).
"""

from __future__ import annotations

import logging
import threading
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal, TypeVar

from gpiozero import Buzzer, Device, DigitalInputDevice, LEDBoard
from gpiozero.exc import BadPinFactory, GPIOPinInUse, GPIOZeroError, PinInvalidPin
from gpiozero.pins import Factory
from gpiozero.pins.mock import MockFactory

from hardware.backend import choose_backend
from hardware.exc import BackendUnavailableError, GPIOPanelError, GPIOPinMapError
from hardware.gpio.config import GpioConfig, Pin, check_pin_map

log = logging.getLogger(__name__)

T = TypeVar("T")
LedState = Literal["off", "ready", "busy", "fault"]
WallClock = Callable[[], datetime]
Monotonic = Callable[[], float]


def utc_now() -> datetime:
    """The wall clock events are stamped with."""
    return datetime.now(UTC)


@dataclass(frozen=True)
class TamperEvent:
    """The enclosure was opened (``opened``) or closed again, at ``at`` (UTC)."""

    opened: bool
    at: datetime


@dataclass(frozen=True)
class MotionEvent:
    """Someone moved in front of the station at ``at`` (UTC)."""

    at: datetime


def _real_factory() -> Factory:
    """gpiozero's default pin factory (lgpio on a current Pi), made once for the process."""
    with warnings.catch_warnings(record=True) as fallbacks:
        # gpiozero warns for each library it cannot load; collect them for one clear error.
        warnings.simplefilter("always")
        try:
            Device.ensure_pin_factory()
        except (BadPinFactory, ImportError, OSError) as exc:
            tried = "; ".join(str(item.message) for item in fallbacks)
            raise BackendUnavailableError(f"no GPIO pin factory here ({exc}) {tried}") from None
    return Device.pin_factory


def make_pin_factory(backend: str | None = None) -> tuple[str, Factory]:
    """``(name, factory)`` for ``backend`` (``real``, ``virtual`` or ``mock``).

    ``None`` reads ``STATION_GPIO_BACKEND``, then tries ``real`` and falls back to
    ``virtual`` with a :class:`~hardware.backend.BackendFallbackWarning` (a laptop).
    """
    return choose_backend(
        "gpio",
        {"real": _real_factory, "virtual": MockFactory, "mock": MockFactory},
        requested=backend,
    )


class StatusLeds:
    """Three LEDs that say what the station is doing; exactly one is lit at a time."""

    STATES: tuple[LedState, ...] = ("off", "ready", "busy", "fault")

    def __init__(
        self, ready: Pin, busy: Pin, fault: Pin, *, active_high: bool = True, pin_factory: Factory
    ) -> None:
        self._board: LEDBoard | None = None
        self._state: LedState = "off"
        self._board = LEDBoard(
            ready=ready, busy=busy, fault=fault, active_high=active_high, pin_factory=pin_factory
        )

    @property
    def state(self) -> LedState:
        """The state shown."""
        return self._state

    def show(self, state: LedState) -> None:
        """Light the LED of ``state`` (``off``: none)."""
        if state not in self.STATES:
            raise ValueError(f"LED state must be one of {', '.join(self.STATES)}")
        board = self._require()
        for name in ("ready", "busy", "fault"):
            led = getattr(board, name)
            if name == state:
                led.on()
            else:
                led.off()
        self._state = state

    def lit(self) -> dict[str, bool]:
        """``{"ready": bool, "busy": bool, "fault": bool}`` as the pins are now."""
        board = self._require()
        return {name: bool(getattr(board, name).is_lit) for name in ("ready", "busy", "fault")}

    def _require(self) -> LEDBoard:
        if self._board is None:
            raise GPIOPanelError("the status LEDs are closed")
        return self._board

    def close(self) -> None:
        """Release the pins; safe twice."""
        board, self._board = self._board, None
        if board is not None:
            board.close()


class MotionWake:
    """A PIR module's output: high while it sees movement.

    A plain digital input, not gpiozero's ``MotionSensor``: HC-SR501-style modules already
    hold a clean high for seconds, so the smoothing queue (and its thread) adds only delay.
    """

    def __init__(self, pin: Pin, *, pin_factory: Factory, now: WallClock = utc_now) -> None:
        self._device: DigitalInputDevice | None = None
        self._now = now
        self.when_motion: Callable[[MotionEvent], None] | None = None
        self.last_motion: MotionEvent | None = None
        self._device = DigitalInputDevice(pin, pull_up=False, pin_factory=pin_factory)
        self._device.when_activated = self._activated

    @property
    def motion_detected(self) -> bool:
        """Whether the module sees movement now."""
        return self._device is not None and bool(self._device.is_active)

    def _activated(self) -> None:
        event = MotionEvent(at=self._now())
        self.last_motion = event
        callback = self.when_motion
        if callback is not None:
            callback(event)

    def close(self) -> None:
        """Release the pin; safe twice."""
        device, self._device = self._device, None
        if device is not None:
            device.when_activated = None
            device.close()


class TamperSwitch:
    """The enclosure's normally-closed switch, wired to ground with the pull-up on.

    Closed enclosure: switch closed, pin low. Opened, or the wire cut: pin high. So a cut
    wire reads as tampering, which is what an alarm wants.

    Debounce: the first edge that changes the state is reported at once (an alarm should not
    wait); further edges within ``debounce_s`` are contact bounce and ignored. Every later
    edge, or :meth:`poll`, re-reads the pin, so a state hidden by the bounce window is
    reported then. ``monotonic`` and ``now`` are injectable clocks (tests pass fakes).
    """

    def __init__(
        self,
        pin: Pin,
        *,
        debounce_s: float = 0.05,
        pin_factory: Factory,
        monotonic: Monotonic = time.monotonic,
        now: WallClock = utc_now,
    ) -> None:
        self._device: DigitalInputDevice | None = None
        self._lock = threading.Lock()
        self._debounce_s = debounce_s
        self._monotonic = monotonic
        self._now = now
        self._last_change = float("-inf")
        self.when_changed: Callable[[TamperEvent], None] | None = None
        self.last_event: TamperEvent | None = None
        # Start from "closed": an enclosure already open at boot is reported by the first
        # edge or poll(), so it raises its alarm instead of being taken as normal.
        self._reported_open = False
        self._device = DigitalInputDevice(pin, pull_up=True, pin_factory=pin_factory)
        self._device.when_activated = self._edge
        self._device.when_deactivated = self._edge

    @property
    def is_open(self) -> bool:
        """Whether the pin says open now (undebounced)."""
        if self._device is None:
            raise GPIOPanelError("the tamper switch is closed")
        # pull_up=True makes gpiozero call a low pin "active": active means switch closed.
        return not self._device.is_active

    @property
    def reported_open(self) -> bool:
        """The debounced state: what the last event said."""
        return self._reported_open

    def poll(self) -> TamperEvent | None:
        """Report a change that the bounce window hid; call now and then (the daemon's tick)."""
        return self._edge()

    def _edge(self) -> TamperEvent | None:
        if self._device is None:
            return None
        with self._lock:
            opened = self.is_open
            moment = self._monotonic()
            if opened == self._reported_open:
                return None
            if moment - self._last_change < self._debounce_s:
                return None  # bounce; a later edge or poll() catches a real change
            self._reported_open = opened
            self._last_change = moment
            event = TamperEvent(opened=opened, at=self._now())
            self.last_event = event
        log.warning("enclosure %s", "opened" if opened else "closed")
        callback = self.when_changed
        if callback is not None:
            callback(event)
        return event

    def close(self) -> None:
        """Release the pin; safe twice."""
        device, self._device = self._device, None
        if device is not None:
            device.when_activated = device.when_deactivated = None
            device.close()


class GpioPanel:
    """LEDs, buzzer, motion sensor and tamper switch of one station, on one pin factory.

    ``pin_factory`` overrides the backend choice (tests may share one ``MockFactory``).
    Set ``when_motion`` and ``when_tamper`` to receive events.
    """

    def __init__(
        self,
        config: GpioConfig | None = None,
        *,
        pin_factory: Factory | None = None,
        monotonic: Monotonic = time.monotonic,
        now: WallClock = utc_now,
    ) -> None:
        self.leds: StatusLeds | None = None
        self.buzzer: Buzzer | None = None
        self.motion: MotionWake | None = None
        self.tamper: TamperSwitch | None = None
        self.pin_factory: Factory | None = None
        self._own_factory = False
        self.when_motion: Callable[[MotionEvent], None] | None = None
        self.when_tamper: Callable[[TamperEvent], None] | None = None
        self.config = config or GpioConfig()
        check_pin_map(self.config.pins)
        if pin_factory is None:
            self.backend, pin_factory = make_pin_factory(self.config.backend)
            # A mock factory made here is ours to close; the real one is process-wide.
            self._own_factory = isinstance(pin_factory, MockFactory)
        else:
            self.backend = "given"
        self.pin_factory = pin_factory
        try:
            self._build(monotonic, now)
        except BaseException:
            self.close()
            raise

    def _build(self, monotonic: Monotonic, now: WallClock) -> None:
        pins, factory = self.config.pins, self.pin_factory
        try:
            self.leds = StatusLeds(
                pins.ready_led,
                pins.busy_led,
                pins.fault_led,
                active_high=self.config.leds_active_high,
                pin_factory=factory,
            )
            self.buzzer = Buzzer(
                pins.buzzer, active_high=self.config.buzzer_active_high, pin_factory=factory
            )
            self.motion = MotionWake(pins.motion, pin_factory=factory, now=now)
            self.tamper = TamperSwitch(
                pins.tamper,
                debounce_s=self.config.tamper_debounce_s,
                pin_factory=factory,
                monotonic=monotonic,
                now=now,
            )
        except (GPIOPinInUse, PinInvalidPin) as exc:
            raise GPIOPinMapError(f"pin map: {exc}") from None
        except GPIOZeroError as exc:
            raise GPIOPanelError(f"GPIO setup failed: {exc}") from None
        if isinstance(factory, MockFactory):
            # A virtual station starts like a real one: enclosure shut (the pull-up alone
            # would read as open). No event: the switch already takes "closed" as its start.
            factory.pin(pins.tamper).drive_low()
        self.motion.when_motion = self._motion
        self.tamper.when_changed = self._tamper

    def _motion(self, event: MotionEvent) -> None:
        if self.when_motion is not None:
            self.when_motion(event)

    def _tamper(self, event: TamperEvent) -> None:
        if self.when_tamper is not None:
            self.when_tamper(event)

    # --- outputs -------------------------------------------------------------------------

    def show(self, state: LedState) -> None:
        """Light the ready, busy or fault LED (``off``: none)."""
        self._require(self.leds).show(state)

    def beep(self, times: int = 1, on_s: float = 0.08, off_s: float = 0.08) -> None:
        """Beep ``times`` in the background (returns at once)."""
        self._require(self.buzzer).beep(on_time=on_s, off_time=off_s, n=times, background=True)

    def alarm(self, on: bool) -> None:
        """Sound the buzzer continuously (``True``) or silence it."""
        buzzer = self._require(self.buzzer)
        if on:
            buzzer.on()
        else:
            buzzer.off()

    def poll(self) -> None:
        """Catch a tamper change hidden by debouncing; call on the daemon's tick."""
        self._require(self.tamper).poll()

    def _require(self, part: T | None) -> T:
        if part is None:
            raise GPIOPanelError("the GPIO panel is closed")
        return part

    # --- life cycle ----------------------------------------------------------------------

    @property
    def closed(self) -> bool:
        """Whether the panel was closed."""
        return self.pin_factory is None

    def close(self) -> None:
        """Switch everything off and release the pins; safe to call twice."""
        for name in ("tamper", "motion", "buzzer", "leds"):
            part = getattr(self, name)
            setattr(self, name, None)
            if part is not None:
                part.close()
        factory, self.pin_factory = self.pin_factory, None
        if factory is not None and self._own_factory:
            factory.close()

    def __enter__(self) -> GpioPanel:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
