"""``station-hw selftest`` against the real stack: pcscd + vpcd + a virtual card process, the
virtual network printer on a loopback socket, gpiozero's MockFactory, the virtual watchdog."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from device.hwcli import EXIT_CONFIG, main
from devtools.cardstack import LocalPcscd, VirtualCardProcess
from devtools.synthetic import write_card_files
from hardware.printer.virtual import VirtualPrinter
from tests.helpers import wait_until
from tests.test_card import slot_empty

GUARD_S = 30.0


@pytest.fixture(scope="module")
def card_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_card_files(1, tmp_path_factory.mktemp("cards"), seed=404)[0]


@pytest.fixture
def printer(tmp_path: Path) -> Iterator[VirtualPrinter]:
    with VirtualPrinter(tmp_path / "spool", control_port=None) as virtual:
        yield virtual


@pytest.fixture
def card_in_slot(pcscd: LocalPcscd, card_file: Path) -> Iterator[Callable[..., None]]:
    cards: list[VirtualCardProcess] = []

    def insert(*options: str) -> None:
        cards.append(VirtualCardProcess(card_file, pcscd.slot_port(0), list(options)).start())

    yield insert
    for card in cards:
        card.stop()
    if cards:
        wait_until(lambda: slot_empty(pcscd, 0), "the slot to empty", GUARD_S)


def write_config(root: Path, pcscd: LocalPcscd, virtual: VirtualPrinter, **extra: str) -> Path:
    host, port = virtual.address
    sections = {
        "card": f'backend = "real"\nreader_filter = "{pcscd.reader(0)}"\n'
        "settle_s = 0.05\npoll_s = 0.2\n",
        "printer": f'backend = "virtual"\nvirtual = {{ host = "{host}", port = {port} }}\n',
        "gpio": 'backend = "virtual"\n',
        "watchdog": 'backend = "virtual"\ntimeout_s = 60\n',
    }
    sections.update(extra)
    path = root / "station.toml"
    text = (
        f'station_id = "st-a"\ndata_dir = "{root / "data"}"\nsecrets_dir = "{root / "secrets"}"\n'
    )
    for name, body in sections.items():
        if body:
            text += f"[{name}]\n{body}"
    path.write_text(text)
    return path


def selftest(config: Path, *args: str) -> Result:
    return CliRunner().invoke(
        main,
        ["selftest", "--config", str(config), "--card-wait", "5", *args],
        env={"COLUMNS": "140"},
    )


def rows(output: str) -> dict[tuple[str, str], str]:
    """``{(device, check): RESULT}`` from the rich table."""
    found = {}
    for line in output.splitlines():
        cells = [cell.strip() for cell in line.split("│")]
        if len(cells) >= 5 and cells[3] in ("OK", "WARN", "SKIP", "FAIL"):
            found[(cells[1], cells[2])] = cells[3]
    return found


ALL_OK = {
    ("card reader", "present"): "OK",
    ("card reader", "card"): "OK",
    ("card reader", "photo"): "OK",
    ("printer", "status"): "OK",
    ("printer", "test page"): "OK",
    ("gpio", "ready LED"): "OK",
    ("gpio", "busy LED"): "OK",
    ("gpio", "fault LED"): "OK",
    ("gpio", "buzzer"): "OK",
    ("gpio", "motion sensor"): "OK",
    ("gpio", "tamper switch"): "OK",
    ("watchdog", "link"): "OK",
    ("watchdog", "heartbeat"): "OK",
    ("watchdog", "resets"): "OK",
    ("watchdog", "flash store"): "OK",
}


def test_every_device_passes_with_a_card_and_a_test_page(
    tmp_path, pcscd, printer, card_in_slot, card_file
):
    card_in_slot()
    config = write_config(tmp_path, pcscd, printer)
    result = selftest(config, "--require-card", "--photo", "--test-page")
    assert result.exit_code == 0, result.output
    assert rows(result.output) == ALL_OK, result.output
    assert "self-test passed" in result.output
    # The test page really went out as ESC/POS, whole, ending with a cut.
    jobs = printer.jobs()
    assert len(jobs) == 1 and jobs[0].complete, jobs
    # Nothing about the resident reaches the technician's screen.
    resident = json.loads(card_file.read_text("utf-8"))["resident"]
    assert resident["citizen_id"] not in result.output
    assert resident["name_en"]["last"] not in result.output


def test_no_card_is_a_skip_unless_required(tmp_path, pcscd, printer):
    config = write_config(tmp_path, pcscd, printer)
    relaxed = selftest(config, "--card-wait", "0.5")
    assert relaxed.exit_code == 0, relaxed.output
    assert rows(relaxed.output)[("card reader", "card")] == "SKIP"
    assert rows(relaxed.output)[("printer", "test page")] == "SKIP"
    assert printer.jobs() == []
    strict = selftest(config, "--card-wait", "0.5", "--require-card")
    assert strict.exit_code == 1, strict.output
    assert rows(strict.output)[("card reader", "card")] == "FAIL"
    assert "self-test failed: 1 check(s)" in strict.output


def test_a_card_answering_with_a_bad_status_word_fails(tmp_path, pcscd, printer, card_in_slot):
    card_in_slot("--bad-sw", "name_th")
    result = selftest(write_config(tmp_path, pcscd, printer), "--require-card")
    assert result.exit_code == 1, result.output
    assert rows(result.output)[("card reader", "card")] == "FAIL"
    assert "CardCommandError" in result.output


def test_no_reader_fails(tmp_path, pcscd, printer):
    config = write_config(
        tmp_path,
        pcscd,
        printer,
        card='backend = "real"\nreader_filter = "no such reader"\npoll_s = 0.2\n',
    )
    result = selftest(config, "--card-wait", "1")
    assert result.exit_code == 1
    assert rows(result.output)[("card reader", "present")] == "FAIL"
    assert "no PC/SC reader found" in result.output


@pytest.mark.parametrize("state", ["paper-out", "cover-open", "offline"])
def test_a_printer_that_cannot_print_fails(tmp_path, pcscd, printer, state):
    printer.set_state(state)
    result = selftest(write_config(tmp_path, pcscd, printer), "--card-wait", "0.5", "--test-page")
    assert result.exit_code == 1, result.output
    assert rows(result.output)[("printer", "status")] == "FAIL"
    assert state in result.output
    assert printer.jobs() == []  # no test page into a printer that cannot print it


def test_paper_low_is_a_warning_not_a_failure(tmp_path, pcscd, printer):
    printer.set_state("paper-low")
    result = selftest(write_config(tmp_path, pcscd, printer), "--card-wait", "0.5")
    assert result.exit_code == 0, result.output
    assert rows(result.output)[("printer", "status")] == "WARN"


def test_a_printer_nobody_answers_fails_with_its_address(tmp_path, pcscd, printer):
    host, port = printer.address
    config = write_config(tmp_path, pcscd, printer)
    printer.close()
    result = selftest(config, "--card-wait", "0.5")
    assert result.exit_code == 1, result.output
    assert f"{host}:{port}" in result.output


def test_devices_not_in_the_config_are_skipped(tmp_path, pcscd, printer):
    config = write_config(tmp_path, pcscd, printer, card="", printer="", gpio="", watchdog="")
    result = selftest(config)
    assert result.exit_code == 0, result.output
    assert set(rows(result.output).values()) == {"SKIP"}
    assert len(rows(result.output)) == 4


def test_a_bad_config_exits_2_with_the_field_named(tmp_path, pcscd, printer):
    config = write_config(
        tmp_path, pcscd, printer, gpio='backend = "virtual"\npins = { buzzer = 17 }\n'
    )
    result = selftest(config)
    assert result.exit_code == EXIT_CONFIG
    assert "ready_led" in result.output and "GPIO17" in result.output
    assert "Traceback" not in result.output


def test_the_watchdog_backend_named_but_absent_fails(tmp_path, pcscd, printer):
    config = write_config(
        tmp_path,
        pcscd,
        printer,
        watchdog='backend = "real"\ndevice = "/dev/ttyNOPE0"\ntimeout_s = 60\n',
    )
    result = selftest(config, "--card-wait", "0.5")
    assert result.exit_code == 1, result.output
    assert rows(result.output)[("watchdog", "open")] == "FAIL"
    assert "/dev/ttyNOPE0" in result.output
