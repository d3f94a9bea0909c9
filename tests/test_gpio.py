"""The GPIO panel on gpiozero's MockFactory: LEDs, buzzer, PIR wake, debounced tamper switch."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from gpiozero import Device
from gpiozero.pins.mock import MockFactory

from hardware.backend import BackendFallbackWarning
from hardware.exc import BackendUnavailableError, GPIOPanelError, GPIOPinMapError
from hardware.gpio import (
    GpioConfig,
    GpioPanel,
    MotionEvent,
    PinMap,
    TamperEvent,
    TamperSwitch,
    gpio_config,
    make_pin_factory,
)
from tests.helpers import wait_until

PINS = PinMap()
T0 = datetime(2025, 3, 12, 7, 0, tzinfo=UTC)


class FakeClocks:
    """Monotonic seconds and a wall clock the test moves by hand."""

    def __init__(self) -> None:
        self.seconds = 100.0

    def monotonic(self) -> float:
        return self.seconds

    def now(self) -> datetime:
        return T0 + timedelta(seconds=self.seconds - 100.0)

    def advance(self, seconds: float) -> None:
        self.seconds += seconds


@pytest.fixture
def clocks() -> FakeClocks:
    return FakeClocks()


@pytest.fixture
def panel(clocks: FakeClocks) -> Iterator[GpioPanel]:
    with GpioPanel(
        GpioConfig(backend="mock", tamper_debounce_s=0.05),
        monotonic=clocks.monotonic,
        now=clocks.now,
    ) as station_panel:
        yield station_panel


def pin(panel: GpioPanel, number: int | str):
    return panel.pin_factory.pin(number)


@pytest.mark.parametrize("state", ["ready", "busy", "fault", "off"])
def test_leds_reflect_the_state(panel: GpioPanel, state: str) -> None:
    panel.show(state)
    lit = {
        "ready": pin(panel, PINS.ready_led).state,
        "busy": pin(panel, PINS.busy_led).state,
        "fault": pin(panel, PINS.fault_led).state,
    }
    assert lit == {name: name == state for name in ("ready", "busy", "fault")}
    assert panel.leds.lit() == lit
    assert panel.leds.state == state


def test_leds_change_from_state_to_state(panel: GpioPanel) -> None:
    for state in ("ready", "busy", "ready", "fault", "ready"):
        panel.show(state)
    ready = pin(panel, PINS.ready_led)
    fault = pin(panel, PINS.fault_led)
    assert [s.state for s in ready.states] == [False, True, False, True, False, True]
    assert [s.state for s in fault.states] == [False, True, False]
    with pytest.raises(ValueError):
        panel.show("party")


def test_active_low_wiring_inverts_the_pins() -> None:
    config = GpioConfig(backend="mock", leds_active_high=False, buzzer_active_high=False)
    with GpioPanel(config) as panel:
        panel.show("ready")
        assert pin(panel, PINS.ready_led).state is False  # sinks current: lit when low
        assert pin(panel, PINS.busy_led).state is True
        panel.alarm(True)
        assert pin(panel, PINS.buzzer).state is False


def test_buzzer_alarm_and_beep(panel: GpioPanel) -> None:
    buzzer = pin(panel, PINS.buzzer)
    panel.alarm(True)
    assert buzzer.state is True
    panel.alarm(False)
    assert buzzer.state is False
    buzzer.clear_states()
    panel.beep(times=2, on_s=0.01, off_s=0.01)
    # on, off, on, off after the initial low: four changes, then it stops by itself.
    wait_until(lambda: len(buzzer.states) >= 5, "two beeps")
    assert [s.state for s in buzzer.states][:5] == [False, True, False, True, False]


def test_motion_wakes_the_screen(panel: GpioPanel, clocks: FakeClocks) -> None:
    woken: list[MotionEvent] = []
    panel.when_motion = woken.append
    pir = pin(panel, PINS.motion)
    assert not panel.motion.motion_detected
    clocks.advance(5)
    pir.drive_high()
    assert panel.motion.motion_detected
    pir.drive_low()
    clocks.advance(5)
    pir.drive_high()
    assert woken == [
        MotionEvent(at=T0 + timedelta(seconds=5)),
        MotionEvent(at=T0 + timedelta(seconds=10)),
    ]
    assert panel.motion.last_motion == woken[-1]


def test_tamper_opened_raises_a_timestamped_event(panel: GpioPanel, clocks: FakeClocks) -> None:
    events: list[TamperEvent] = []
    panel.when_tamper = events.append
    switch = pin(panel, PINS.tamper)
    assert not panel.tamper.is_open  # a virtual enclosure starts shut
    clocks.advance(30)
    switch.drive_high()  # the door opens: the normally-closed switch opens, the pull-up wins
    assert events == [TamperEvent(opened=True, at=T0 + timedelta(seconds=30))]
    assert panel.tamper.reported_open
    clocks.advance(60)
    switch.drive_low()
    assert events[-1] == TamperEvent(opened=False, at=T0 + timedelta(seconds=90))


def test_tamper_contact_bounce_is_one_event(panel: GpioPanel, clocks: FakeClocks) -> None:
    events: list[TamperEvent] = []
    panel.when_tamper = events.append
    switch = pin(panel, PINS.tamper)
    clocks.advance(1)
    for _ in range(5):  # the contacts chatter for a few milliseconds
        switch.drive_high()
        clocks.advance(0.002)
        switch.drive_low()
        clocks.advance(0.002)
    switch.drive_high()  # and settle open
    assert [event.opened for event in events] == [True]
    clocks.advance(1)
    panel.poll()
    assert [event.opened for event in events] == [True]  # still open: nothing new


def test_a_change_hidden_by_the_bounce_window_is_found_by_poll(
    panel: GpioPanel, clocks: FakeClocks
) -> None:
    events: list[TamperEvent] = []
    panel.when_tamper = events.append
    switch = pin(panel, PINS.tamper)
    clocks.advance(1)
    switch.drive_high()  # opened: reported at once
    clocks.advance(0.01)
    switch.drive_low()  # shut again within the bounce window: not reported yet
    assert [event.opened for event in events] == [True]
    panel.poll()  # still within the window
    assert [event.opened for event in events] == [True]
    clocks.advance(0.1)
    panel.poll()
    assert [event.opened for event in events] == [True, False]


def test_enclosure_open_at_boot_is_reported(clocks: FakeClocks) -> None:
    factory = MockFactory()
    try:
        # With the pull-up alone (switch open, or its wire cut) the pin reads high.
        tamper = TamperSwitch(
            PINS.tamper, pin_factory=factory, monotonic=clocks.monotonic, now=clocks.now
        )
        events: list[TamperEvent] = []
        tamper.when_changed = events.append
        assert tamper.is_open and not tamper.reported_open
        assert tamper.poll() == TamperEvent(opened=True, at=T0)
        assert events == [TamperEvent(opened=True, at=T0)]
        tamper.close()
        tamper.close()
        with pytest.raises(GPIOPanelError):
            tamper.is_open  # noqa: B018 - the property raises
    finally:
        factory.close()


def test_pin_map_errors() -> None:
    with pytest.raises(GPIOPinMapError):
        gpio_config({"pins": {"buzzer": 17}})  # the ready LED's pin
    with pytest.raises(GPIOPinMapError):
        GpioPanel(GpioConfig(backend="mock", pins=PinMap(tamper="GPIO17")))
    with pytest.raises(GPIOPinMapError):
        GpioPanel(GpioConfig(backend="mock", pins=PinMap(motion=99)))
    assert gpio_config({"pins": {"motion": "GPIO5"}}).pins.motion == "GPIO5"


def test_close_is_safe_twice_and_final() -> None:
    factory = MockFactory()
    try:
        panel = GpioPanel(GpioConfig(), pin_factory=factory)
        panel.show("busy")
        panel.close()
        panel.close()
        assert panel.closed
        with pytest.raises(GPIOPanelError):
            panel.show("ready")
        # The pins were released: a new panel on the same factory can reserve them again.
        with GpioPanel(GpioConfig(), pin_factory=factory) as again:
            again.show("ready")
            assert factory.pin(PINS.ready_led).state is True
    finally:
        factory.close()


def test_backend_choice(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STATION_GPIO_BACKEND", "virtual")
    name, factory = make_pin_factory()
    assert name == "virtual" and isinstance(factory, MockFactory)
    factory.close()
    monkeypatch.delenv("STATION_GPIO_BACKEND")
    monkeypatch.delenv("GPIOZERO_PIN_FACTORY", raising=False)
    with pytest.raises(BackendUnavailableError):
        make_pin_factory("real")  # this is not a Pi, and asked for explicitly: no fallback
    with pytest.warns(BackendFallbackWarning):
        name, factory = make_pin_factory()
    assert name == "virtual"
    factory.close()


def test_real_backend_honours_gpiozero_pin_factory(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GPIOZERO_PIN_FACTORY", "mock")
    assert Device.pin_factory is None
    try:
        with GpioPanel(GpioConfig(backend="real")) as panel:
            assert panel.backend == "real"
            assert panel.pin_factory is Device.pin_factory
            panel.show("fault")
            assert Device.pin_factory.pin(PINS.fault_led).state is True
    finally:
        Device.pin_factory.close()
        Device.pin_factory = None


def test_gpio_imports_no_server_mqtt_or_station_code() -> None:
    code = (
        "import sys; import hardware.gpio; "
        "bad = [m for m in sys.modules if m.split('.')[0] in "
        "('flask', 'paho', 'sync_server', 'device')]; print(bad); sys.exit(bool(bad))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
