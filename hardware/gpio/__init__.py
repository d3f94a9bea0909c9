"""The station's GPIO parts (status LEDs, buzzer, PIR, tamper switch) through gpiozero.

``GpioPanel(config)`` on the Pi's pins, or on gpiozero's ``MockFactory`` off the Pi; see
``docs/hardware-printer-gpio.md`` for the pin map.
"""

from hardware.gpio.config import GpioConfig, PinMap, gpio_config
from hardware.gpio.panel import (
    GpioPanel,
    MotionEvent,
    MotionWake,
    StatusLeds,
    TamperEvent,
    TamperSwitch,
    make_pin_factory,
)

__all__ = [
    "GpioConfig",
    "GpioPanel",
    "MotionEvent",
    "MotionWake",
    "PinMap",
    "StatusLeds",
    "TamperEvent",
    "TamperSwitch",
    "gpio_config",
    "make_pin_factory",
]
