"""The station daemon with its devices: receipts through the spool to the (virtual network)
printer, device gauges in the heartbeats the server records, a remote test page, tamper."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import msgspec
import pytest

from contract import Channel, Command, CommandResult, decode, encode, station_topic
from contract.command_seal import sign_command
from device.hardware import PRINTER_STATES
from device.station import Station, build_station
from hardware.gpio import GpioConfig
from hardware.printer import PrinterConfig
from hardware.printer.config import VirtualConfig
from hardware.printer.virtual import VirtualPrinter
from hardware.watchdog import WatchdogConfig
from provisioning.broker import SERVER_USER
from sync_server.db import database
from sync_server.fleet.models import Station as StationRow
from tests.conftest import SERVER_SIGNING_KEY, station_config
from tests.helpers import wait_until
from tests.raw_client import RawClient


@pytest.fixture
def printer(tmp_path: Path) -> Iterator[VirtualPrinter]:
    with VirtualPrinter(tmp_path / "spool", control_port=None) as virtual:
        yield virtual


@pytest.fixture
def station(tmp_path, broker, printer) -> Iterator[Station]:
    host, port = printer.address
    config = msgspec.structs.replace(
        station_config(tmp_path, broker),
        printer=PrinterConfig(backend="virtual", virtual=VirtualConfig(host=host, port=port)),
        gpio=GpioConfig(backend="virtual"),
        watchdog=WatchdogConfig(backend="virtual", timeout_s=30, heartbeat_interval_s=0.2),
        tracking_url="http://127.0.0.1:9/track?number={number}",
    )
    built = build_station(config, devices=True)
    assert built.hardware is not None and built.hardware.receipts is not None
    built.hardware.receipts.poll_interval_s = 0.1
    built.start()
    yield built
    built.close()


def server_metrics(station_id: str = "st-a") -> dict[str, float]:
    with database.connection_context():
        row = StationRow.get_or_none(StationRow.station_id == station_id)
    return json.loads(row.metrics or "{}") if row is not None else {}


def test_a_petition_receipt_prints_once_from_the_spool(station, printer, ingest):
    number = station.file_petition("general_petition", "0812345678", {}, receipt=True)
    wait_until(lambda: printer.jobs() and printer.jobs()[0].complete, "the receipt to print")
    # The spool marks the job printed after the printer has it all: wait for that too.
    printed = {"queued": 0, "printed": 1, "failed": 0}
    wait_until(lambda: station.receipts.counts() == printed, "the spool to mark it printed")
    job = printer.jobs()[0].data()
    assert number.encode() in job  # the number is printed as text for the QR caption...
    assert f"number={number}".encode() in job  # ...and its tracking link is in the QR code
    assert len(printer.jobs()) == 1


def test_paper_out_keeps_the_receipt_until_paper_is_back(station, printer):
    printer.set_state("paper-out")
    wait_until(lambda: station.hardware.printer.state == "paper-out", "the worker to see paper out")
    station.file_petition("general_petition", "0812345678", {}, receipt=True)
    assert station.receipts.counts()["queued"] == 1
    assert station.hardware.gpio.leds.state == "fault"
    printer.load_paper()
    wait_until(lambda: station.receipts.counts()["printed"] == 1, "the receipt to print")
    assert [job.complete for job in printer.jobs()] == [True]
    wait_until(lambda: station.hardware.gpio.leds.state == "ready", "the ready LED")


def test_heartbeats_carry_device_gauges_to_the_server(station, printer, ingest):
    wait_until(lambda: "printer_state" in server_metrics(), "a heartbeat with device gauges")
    figures = server_metrics()
    assert figures["tamper_open"] == 0
    assert figures["watchdog_resets"] == 0
    assert figures["watchdog_link_ok"] == 1
    printer.set_state("paper-out")
    wait_until(
        lambda: server_metrics().get("printer_state") == PRINTER_STATES["paper-out"],
        "the server to hear of paper out",
    )


def test_an_opened_enclosure_sounds_the_alarm_and_reaches_the_server(station, ingest):
    gpio = station.hardware.gpio
    switch = gpio.pin_factory.pin(gpio.config.pins.tamper)
    switch.drive_high()  # the normally-closed switch opens
    wait_until(lambda: server_metrics().get("tamper_open") == 1, "the server to hear of it")
    assert gpio.buzzer.is_active
    assert gpio.leds.state == "fault"
    switch.drive_low()
    station.tick()  # a change inside the bounce window is caught on the daemon's tick
    wait_until(lambda: server_metrics().get("tamper_open") == 0, "the enclosure shut again")
    assert server_metrics()["tamper_events"] == 2


def test_a_remote_test_page_prints_and_reports_done(station, printer, broker):
    server = RawClient(broker, SERVER_USER)
    try:
        server.subscribe(station_topic("st-a", Channel.COMMAND_RESULT))
        wait_until(lambda: station.sync.link.connected, "the station")
        now = datetime.now(UTC)
        command = sign_command(
            Command(
                command_id=str(uuid.uuid4()),
                station_id="st-a",
                name="print_test_page",
                issued_at=now,
                expires_at=now + timedelta(minutes=1),
            ),
            SERVER_SIGNING_KEY,
        )
        server.publish(station_topic("st-a", Channel.COMMAND), encode(command))
        wait_until(lambda: server.messages, "the command result")
        result = decode(server.messages[0].payload, CommandResult)
    finally:
        server.close()
    assert (result.command_id, result.status, result.detail) == (command.command_id, "done", "ok")
    assert len(printer.jobs()) == 1 and printer.jobs()[0].complete


def test_the_watchdog_is_armed_while_running_and_disarmed_on_a_clean_stop(station):
    link = station.hardware.watchdog
    assert link.status().state == "armed"
    board = link.board
    states: list[str] = []
    original_close = board.close

    def close_after_reading() -> None:  # the link closes its board: look at it first
        states.append(board.wd.state)
        original_close()

    board.close = close_after_reading
    station.close()
    assert states == ["disarmed"]
