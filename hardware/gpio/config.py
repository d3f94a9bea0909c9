"""The GPIO pin map and panel settings as msgspec Structs.

Pins are Broadcom (BCM) numbers, or any name gpiozero understands (``"GPIO17"``,
``"BOARD11"``). The defaults keep clear of I2C (2, 3), the UART (14, 15) and SPI (7-11), so a
HAT or the watchdog board's serial link can use those.
"""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec

from hardware.exc import GPIOPinMapError, HardwareConfigError

Pin = int | str


class PinMap(msgspec.Struct, kw_only=True, forbid_unknown_fields=True, frozen=True):
    """Which pin each part is wired to (BCM numbering; physical pin in the comment)."""

    ready_led: Pin = 17  # pin 11, green
    busy_led: Pin = 27  # pin 13, amber
    fault_led: Pin = 22  # pin 15, red
    buzzer: Pin = 23  # pin 16, active buzzer through a transistor
    motion: Pin = 24  # pin 18, PIR module output (HC-SR501, 3.3 V)
    tamper: Pin = 25  # pin 22, normally-closed enclosure switch to GND

    def named(self) -> dict[str, Pin]:
        """``{part: pin}`` for every part."""
        return {name: getattr(self, name) for name in self.__struct_fields__}


class GpioConfig(msgspec.Struct, kw_only=True, forbid_unknown_fields=True, frozen=True):
    """The panel: pins, backend and timings."""

    #: ``None``: ``STATION_GPIO_BACKEND``, else ``real`` with a warned fallback to ``virtual``.
    backend: Literal["real", "virtual", "mock"] | None = None
    pins: PinMap = msgspec.field(default_factory=PinMap)
    #: Edges closer together than this after a reported change are contact bounce.
    tamper_debounce_s: Annotated[float, msgspec.Meta(ge=0, le=5)] = 0.05
    leds_active_high: bool = True
    buzzer_active_high: bool = True


def _normalise(pin: Pin) -> str:
    if isinstance(pin, int):
        return f"GPIO{pin}"
    text = pin.strip().upper()
    return f"GPIO{text}" if text.isdigit() else text.replace("BCM", "GPIO")


def check_pin_map(pins: PinMap) -> None:
    """Raise :class:`GPIOPinMapError` if two parts share a pin (by the same name)."""
    seen: dict[str, str] = {}
    for part, pin in pins.named().items():
        key = _normalise(pin)
        if key in seen:
            raise GPIOPinMapError(f"{part} and {seen[key]} are both wired to {key}")
        seen[key] = part


def gpio_config(data: dict | None = None) -> GpioConfig:
    """Validate a mapping (the ``[gpio]`` table of the station config)."""
    try:
        config = msgspec.convert(data or {}, GpioConfig)
    except msgspec.ValidationError as exc:
        raise HardwareConfigError(f"invalid gpio config: {exc}") from None
    check_pin_map(config.pins)
    return config
