"""The hardware self-test: every fitted device checked through its real driver.

Each check returns :class:`CheckResult` rows (``ok``, ``warn``, ``skip`` or ``fail``); the
detail says what was measured and never anything about a resident (a card check says the
card is a valid Thai ID card, not whose). Run it while the station daemon is stopped: the
daemon holds the GPIO pins and the watchdog's serial port.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal

from device import __version__
from device.config import StationConfig
from hardware.card import ThaiIdCardReader
from hardware.exc import (
    CardError,
    HardwareError,
    NoCardError,
    PrinterOfflineError,
)
from hardware.gpio import GpioPanel
from hardware.printer import Receipt, ReceiptLine, open_printer
from hardware.watchdog import open_watchdog

Outcome = Literal["ok", "warn", "skip", "fail"]


@dataclass(frozen=True)
class CheckResult:
    """One line of the self-test table."""

    device: str
    check: str
    outcome: Outcome
    detail: str


@dataclass(frozen=True)
class SelftestOptions:
    """What the technician asked for."""

    #: Seconds to wait for pcscd's first scan and for a card already in the reader to settle.
    card_wait_s: float = 3.0
    #: A missing card is a failure (a technician inserting a test card), not a skip.
    require_card: bool = False
    #: Also read the photo (20 more APDU pairs).
    photo: bool = False
    #: Print a test page (no resident data on it).
    test_page: bool = False


def passed(results: list[CheckResult]) -> bool:
    """True when no check failed."""
    return all(result.outcome != "fail" for result in results)


def run_selftest(
    config: StationConfig,
    options: SelftestOptions | None = None,
    now: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> list[CheckResult]:
    """Check every fitted device; a device that is not configured is reported as skipped."""
    options = options or SelftestOptions()
    results: list[CheckResult] = []
    results += _guarded("card reader", lambda: _check_card(config, options))
    results += _guarded("printer", lambda: _check_printer(config, options, now))
    results += _guarded("gpio", lambda: _check_gpio(config))
    results += _guarded("watchdog", lambda: _check_watchdog(config))
    return results


def _guarded(device: str, check: Callable[[], Iterator[CheckResult]]) -> list[CheckResult]:
    """Run one device's checks; an error opening it is that device's failure, not a crash."""
    results: list[CheckResult] = []
    try:
        results.extend(check())
    except HardwareError as exc:
        results.append(CheckResult(device, "open", "fail", f"{type(exc).__name__}: {exc}"))
    return results


def _not_fitted(device: str) -> CheckResult:
    return CheckResult(device, "fitted", "skip", "not in this station's config")


def _check_card(config: StationConfig, options: SelftestOptions) -> Iterator[CheckResult]:
    if config.card is None:
        yield _not_fitted("card reader")
        return
    with ThaiIdCardReader(config.card) as reader:
        reader.wait_for_scan(options.card_wait_s)
        readers = reader.readers
        if not readers:
            yield CheckResult("card reader", "present", "fail", "no PC/SC reader found")
            return
        yield CheckResult(
            "card reader", "present", "ok", f"{', '.join(readers)} ({reader.backend})"
        )
        # A card already in the reader is announced only after the settle delay.
        event = reader.wait_for_card(options.card_wait_s + config.card.settle_s)
        if event is None:
            outcome: Outcome = "fail" if options.require_card else "skip"
            yield CheckResult("card reader", "card", outcome, "no card inserted")
            return
        try:
            reader.read(event.reader)
        except NoCardError:
            yield CheckResult("card reader", "card", "fail", "the card left before it was read")
            return
        except CardError as exc:
            yield CheckResult("card reader", "card", "fail", f"{type(exc).__name__}: {exc}")
            return
        stats = reader.last_stats
        cost = f"{stats.apdus} APDUs, {stats.seconds * 1000:.0f} ms" if stats else ""
        yield CheckResult(
            "card reader", "card", "ok", f"Thai ID card read, every field valid ({cost})"
        )
        if options.photo:
            try:
                photo = reader.read_photo()
            except CardError as exc:
                yield CheckResult("card reader", "photo", "fail", f"{type(exc).__name__}: {exc}")
                return
            is_jpeg = photo[:2] == b"\xff\xd8"
            yield CheckResult(
                "card reader",
                "photo",
                "ok" if is_jpeg else "fail",
                f"{len(photo):,} bytes, {'JPEG' if is_jpeg else 'not a JPEG'}",
            )


def _check_printer(
    config: StationConfig, options: SelftestOptions, now: Callable[[], datetime]
) -> Iterator[CheckResult]:
    if config.printer is None:
        yield _not_fitted("printer")
        return
    with open_printer(config.printer, connect=False, local_time=config.local_time) as printer:
        where = printer.where
        try:
            state = printer.status().state
        except PrinterOfflineError:
            yield CheckResult("printer", "status", "fail", f"offline: no answer at {where}")
            return
        if state == "ok":
            yield CheckResult("printer", "status", "ok", f"paper ok at {where}")
        elif state == "paper-low":
            yield CheckResult("printer", "status", "warn", f"paper low at {where}")
        else:
            yield CheckResult("printer", "status", "fail", f"{state} at {where}")
            return
        if not options.test_page:
            yield CheckResult("printer", "test page", "skip", "not asked (--test-page)")
            return
        page = Receipt(
            title="หน้าทดสอบ / Test page",
            issued_at=now(),
            lines=(
                ReceiptLine("station", "สถานี / Station", config.station_id),
                ReceiptLine("software", "ซอฟต์แวร์ / Software", __version__),
            ),
            footer="ทดสอบเครื่องพิมพ์ ก ข ค ฆ ง / printer test",
        )
        job = printer.render(page)
        after = printer.print_job(job)
        yield CheckResult(
            "printer", "test page", "ok", f"{len(job):,} bytes printed, then {after.state}"
        )


def _check_gpio(config: StationConfig) -> Iterator[CheckResult]:
    if config.gpio is None:
        yield _not_fitted("gpio")
        return
    pins = config.gpio.pins
    with GpioPanel(config.gpio) as panel:
        leds = panel.leds
        assert leds is not None  # an open panel has all its parts
        for state in ("ready", "busy", "fault"):
            panel.show(state)
            lit = leds.lit()
            only_this = lit[state] and sum(lit.values()) == 1
            pin = getattr(pins, f"{state}_led")
            yield CheckResult(
                "gpio",
                f"{state} LED",
                "ok" if only_this else "fail",
                f"pin {pin} {'lit alone' if only_this else f'read back as {lit}'}",
            )
        panel.show("off")
        buzzer = panel.buzzer
        assert buzzer is not None
        buzzer.on()
        sounding = bool(buzzer.is_active)
        time.sleep(0.05)  # a blip a technician can hear
        buzzer.off()
        silent = not buzzer.is_active
        yield CheckResult(
            "gpio",
            "buzzer",
            "ok" if sounding and silent else "fail",
            f"pin {pins.buzzer} {'on and off' if sounding and silent else 'did not switch'}",
        )
        motion = panel.motion
        assert motion is not None
        yield CheckResult(
            "gpio",
            "motion sensor",
            "ok",
            f"pin {pins.motion} reads {'movement' if motion.motion_detected else 'still'}",
        )
        tamper = panel.tamper
        assert tamper is not None
        opened = tamper.is_open
        yield CheckResult(
            "gpio",
            "tamper switch",
            "fail" if opened else "ok",
            f"pin {pins.tamper}: enclosure {'OPEN (or the wire is cut)' if opened else 'closed'}",
        )


def _check_watchdog(config: StationConfig) -> Iterator[CheckResult]:
    if config.watchdog is None:
        yield _not_fitted("watchdog")
        return
    with open_watchdog(config.watchdog) as link:
        info = link.info
        assert info is not None  # opening greets the board
        yield CheckResult(
            "watchdog",
            "link",
            "ok",
            f"{link.device}: firmware {info.version}, protocol {info.protocol}, {info.state}",
        )
        reply = link.heartbeat()
        yield CheckResult("watchdog", "heartbeat", "ok", f"answered, board {reply}")
        log = link.resets()
        reasons = f" (last: {', '.join(log.reasons[-3:])})" if log.reasons else ""
        yield CheckResult(
            "watchdog",
            "resets",
            "warn" if log.count else "ok",
            f"{log.count} reset(s) since cleared{reasons}",
        )
        store_state = info.store
        yield CheckResult(
            "watchdog",
            "flash store",
            "ok" if store_state in ("ok", "new") else "warn",
            f"reset history {store_state}",
        )
