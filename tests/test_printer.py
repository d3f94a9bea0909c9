"""The receipt printer: exact ESC/POS bytes, the virtual network printer over real TCP,
DLE EOT status for each state, paper events, paper out mid-job, offline, the PNG renderer."""

from __future__ import annotations

import json
import os
import pty
import subprocess
import sys
import threading
import tty
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from escpos.printer import Dummy
from PIL import Image

from devtools.net import free_port, wait_for_port
from hardware.backend import BackendFallbackWarning
from hardware.exc import (
    BackendUnavailableError,
    HardwareConfigError,
    PaperOutError,
    PrinterOfflineError,
    PrinterProtocolError,
    ReceiptContentError,
)
from hardware.printer import (
    LayoutConfig,
    PrinterConfig,
    Receipt,
    ReceiptLayout,
    ReceiptLine,
    ReceiptPrinter,
    open_printer,
    printer_config,
)
from hardware.printer import render as render_module
from hardware.printer import status as st
from hardware.printer.config import VirtualConfig
from hardware.printer.stream import StreamParser, iter_commands
from hardware.printer.transport import FileTransport, NetworkTransport, SerialTransport
from hardware.printer.virtual import STATES, VirtualPrinter, VirtualPrinterControl

ISSUED = datetime(2025, 3, 12, 7, 5, tzinfo=UTC)  # 14:05 in Bangkok


def sample_receipt(number: str = "P-ST-A-0000123-X") -> Receipt:
    """A synthetic petition receipt (no real person)."""
    return Receipt(
        title="ใบรับคำร้องทั่วไป",
        issued_at=ISSUED,
        lines=(
            ReceiptLine("service", "บริการ / Service", "คำร้องทั่วไป"),
            ReceiptLine("name", "ผู้ยื่น / Applicant", "นางสาวทดสอบ ใจดีเสมอ"),
            ReceiptLine("phone", "โทรศัพท์ / Phone", "080-000-0000"),
        ),
        number=number,
        tracking_url=f"https://track.example.invalid/p/{number}",
        footer="ขอบคุณที่ใช้บริการ / Thank you",
    )


@pytest.fixture
def virtual_printer(tmp_path: Path) -> Iterator[VirtualPrinter]:
    with VirtualPrinter(tmp_path / "spool") as printer:
        yield printer


def virtual_config(printer: VirtualPrinter, **layout: object) -> PrinterConfig:
    host, port = printer.address
    return PrinterConfig(
        backend="virtual",
        virtual=VirtualConfig(host=host, port=port, timeout_s=5.0),
        layout=LayoutConfig(**layout),
    )


@pytest.fixture
def printer(virtual_printer: VirtualPrinter) -> Iterator[ReceiptPrinter]:
    with open_printer(virtual_config(virtual_printer)) as receipt_printer:
        yield receipt_printer


# --- bytes -------------------------------------------------------------------------------


def test_codepage_receipt_is_exactly_these_bytes() -> None:
    receipt = Receipt(
        title="ใบรับ",
        issued_at=ISSUED,
        lines=(ReceiptLine("service", "Service", "ทั่วไป"),),
        number="P-1",
        tracking_url="https://t.invalid/1",
    )
    layout = ReceiptLayout(LayoutConfig(text_mode="codepage", paper_width_px=576))
    dummy = Dummy(profile="TM-P80")
    layout.compose(receipt, dummy)

    esc, gs = b"\x1b", b"\x1d"
    normal = esc + b"!\x00"  # python-escpos resets the print mode before each size change
    dashes = b"-" * 48 + b"\n"  # 576 dots / 12-dot font A = 48 columns
    qr_data = b"https://t.invalid/1"
    expected = b"".join(
        [
            esc + b"@",  # initialise
            esc + b"a\x01",  # centre
            esc + b"t\x15",  # code page 21 = CP874 (Thai) in the TM-P80 profile
            normal + normal + esc + b"!\x30",  # double width and height
            esc + b"E\x01",  # bold
            "ใบรับ".encode("cp874") + b"\n",
            normal + normal + esc + b"!\x00",  # normal size
            esc + b"E\x00",
            dashes,
            esc + b"a\x00",  # left
            b"Service" + b" " * (48 - 7 - 4) + "ทั่วไป".encode("cp874") + b"\n",  # marks: 0 cols
            "วันที่ / Date".encode("cp874")
            + b" " * (48 - 10 - 21)
            + "12 มี.ค. 2568 14:05 น.".encode("cp874")
            + b"\n",
            esc + b"a\x01",
            dashes,
            "เลขที่คำร้อง / Petition no.".encode("cp874") + b"\n",
            normal + normal + esc + b"!\x10",  # double height
            esc + b"E\x01",
            b"P-1\n",
            normal + normal + esc + b"!\x00",
            esc + b"E\x00",
            "สแกนเพื่อติดตามสถานะ / Scan to track".encode("cp874") + b"\n",
            gs + b"(k\x04\x00\x31\x41\x32\x00",  # QR model 2
            gs + b"(k\x03\x00\x31\x43\x06",  # module size 6 dots
            gs + b"(k\x03\x00\x31\x45\x31",  # error correction M
            gs + b"(k" + bytes((len(qr_data) + 3, 0)) + b"\x31\x50\x30" + qr_data,  # store
            gs + b"(k\x03\x00\x31\x51\x30",  # print the symbol
            qr_data + b"\n",
            esc + b"d\x06",  # feed 6 lines past the cutter
            gs + b"V\x00",  # full cut
        ]
    )
    assert dummy.output == expected
    assert layout.render(receipt) == expected


def test_image_receipt_is_raster_images_a_native_qr_and_a_cut() -> None:
    data = ReceiptLayout(LayoutConfig(text_mode="image")).render(sample_receipt())
    commands = list(iter_commands(data))
    names = [command.name for command in commands]
    assert names[:2] == ["ESC @", "ESC a"]
    assert names[-2:] == ["ESC d", "GS V"]
    assert "text" not in names  # every word is in the images: no printer font involved
    rasters = [command.raw for command in commands if command.name == "GS v 0"]
    assert len(rasters) >= 5
    for raw in rasters:
        assert raw[3] == 0  # normal density
        assert int.from_bytes(raw[4:6], "little") == 576 // 8  # full paper width
        height = int.from_bytes(raw[6:8], "little")
        assert len(raw) == 8 + 72 * height
    store = next(c.raw for c in commands if c.name == "GS ( k" and c.raw[6] == 0x50)
    assert store.endswith(b"https://track.example.invalid/p/P-ST-A-0000123-X")
    # Rendering is deterministic: a reprint sends the same bytes.
    assert ReceiptLayout(LayoutConfig(text_mode="image")).render(sample_receipt()) == data


@pytest.mark.parametrize(
    ("key", "label"),
    [
        ("password", "รหัสผ่านใหม่"),
        ("new_password", "New password"),
        ("otp", "OTP"),
        ("old_age_savings", "Savings"),
        ("balance", "เงินออมกรณีชราภาพ"),
        ("total", "Old-age savings"),
    ],
)
def test_receipt_refuses_secrets_and_old_age_savings(key: str, label: str) -> None:
    with pytest.raises(ReceiptContentError) as caught:
        Receipt(title="x", issued_at=ISSUED, lines=(ReceiptLine(key, label, "hunter2"),))
    assert "hunter2" not in str(caught.value)  # the refusal never echoes the value


def test_stream_parser_finds_boundaries_inside_binary_data() -> None:
    # Raster bytes that contain DLE EOT 1: inside an image they are dots, not a request.
    image = b"\x1dv0\x00\x02\x00\x02\x00" + b"\x10\x04\x01\x00"
    data = b"\x1b@" + image + b"\x10\x04\x04" + b"abc\n"
    names = [command.name for command in iter_commands(data)]
    assert names == ["ESC @", "GS v 0", "DLE EOT", "text", "LF"]
    parser = StreamParser()
    fed = [command for byte in data for command in parser.feed(bytes((byte,)))]
    assert [c.name for c in fed if c.name != "text"] == ["ESC @", "GS v 0", "DLE EOT", "LF"]
    assert b"".join(command.raw for command in fed) == data


# --- the virtual printer over TCP --------------------------------------------------------


def test_virtual_printer_receives_the_job_over_tcp(
    virtual_printer: VirtualPrinter, printer: ReceiptPrinter
) -> None:
    receipt = sample_receipt()
    after = printer.print_receipt(receipt)
    assert after.state == "ok"
    (job,) = virtual_printer.jobs()
    assert job.complete
    assert job.data() == printer.render(receipt)
    meta = json.loads(job.path.with_suffix(".json").read_text())
    assert meta["complete"] is True
    assert meta["received"] == meta["printed"] == len(job.data())


@pytest.mark.parametrize("state", [s for s in STATES if s != "offline"])
def test_status_round_trip_for_each_state(
    virtual_printer: VirtualPrinter, printer: ReceiptPrinter, state: str
) -> None:
    virtual_printer.set_state(state)
    assert printer.status().state == state
    transport = NetworkTransport(*virtual_printer.address, timeout_s=5.0)
    transport.open()
    try:
        for n in (1, 2, 3, 4):
            assert transport.request_status(n) == st.answers(state)[n]
    finally:
        transport.close()
        transport.close()  # safe twice


def test_offline_printer_does_not_answer(
    virtual_printer: VirtualPrinter, printer: ReceiptPrinter
) -> None:
    offline: list[str] = []
    ready: list[str] = []
    printer.when_offline = lambda status: offline.append(status.state)
    printer.when_ready = lambda status: ready.append(status.state)
    assert printer.status().state == "ok"
    virtual_printer.set_state("offline")
    with pytest.raises(PrinterOfflineError):
        printer.status()
    with pytest.raises(PrinterOfflineError):
        printer.print_receipt(sample_receipt())
    assert virtual_printer.jobs() == []
    virtual_printer.set_state("ok")
    assert printer.status().state == "ok"  # reconnects at the start of the next request
    assert offline == ["offline"]
    assert ready == ["ok"]


def test_nothing_listening_is_offline() -> None:
    config = PrinterConfig(
        backend="virtual", virtual=VirtualConfig(host="127.0.0.1", port=free_port(), timeout_s=2)
    )
    with pytest.raises(PrinterOfflineError):
        open_printer(config)
    printer = open_printer(config, connect=False)
    with pytest.raises(PrinterOfflineError):
        printer.status()
    assert printer.state == "offline"
    printer.close()
    printer.close()
    with pytest.raises(PrinterOfflineError):
        printer.status()


def test_paper_low_and_paper_out_events(
    virtual_printer: VirtualPrinter, printer: ReceiptPrinter
) -> None:
    events: list[tuple[str, str]] = []
    printer.when_paper_low = lambda status: events.append(("low", status.state))
    printer.when_paper_out = lambda status: events.append(("out", status.state))
    printer.when_ready = lambda status: events.append(("ready", status.state))
    printer.status()
    virtual_printer.set_state("paper-low")
    assert printer.print_receipt(sample_receipt()).state == "paper-low"  # low still prints
    virtual_printer.set_state("paper-out")
    with pytest.raises(PaperOutError):
        printer.print_receipt(sample_receipt())
    virtual_printer.set_state("cover-open")
    printer.status()
    virtual_printer.load_paper()
    printer.status()
    printer.status()  # no change: no event
    assert events == [
        ("low", "paper-low"),
        ("out", "paper-out"),
        ("out", "cover-open"),
        ("ready", "ok"),
    ]
    assert [job.complete for job in virtual_printer.jobs()] == [True]  # nothing sent when out


def test_paper_runs_out_in_the_middle_of_a_job(
    virtual_printer: VirtualPrinter, printer: ReceiptPrinter
) -> None:
    receipt = sample_receipt()
    job_bytes = printer.render(receipt)
    virtual_printer.load_paper(len(job_bytes) // 3)
    with pytest.raises(PaperOutError) as caught:
        printer.print_receipt(receipt)
    assert caught.value.status.state == "paper-out"
    (torn,) = virtual_printer.jobs()
    assert not torn.complete
    assert torn.printed == len(job_bytes) // 3 < torn.received == len(job_bytes)
    virtual_printer.load_paper()
    assert printer.print_receipt(receipt).state == "ok"
    torn, whole = virtual_printer.jobs()
    assert whole.complete and whole.data() == job_bytes


def test_paper_low_water_mark(tmp_path: Path) -> None:
    low: list[str] = []
    with VirtualPrinter(tmp_path, paper_bytes=100_000, low_water_bytes=80_000) as virtual:
        printer = open_printer(virtual_config(virtual))
        printer.when_paper_low = lambda status: low.append(status.state)
        with printer:
            printer.print_receipt(sample_receipt())
            assert printer.status().state == "paper-low"
    assert low == ["paper-low"]


def test_malformed_status_byte_is_a_protocol_error() -> None:
    with pytest.raises(PrinterProtocolError):
        st.parse(0x12, 0x12, 0xFF)
    assert st.parse(0x12, 0x12, 0x12).state == "ok"


def test_virtual_printer_as_a_process_stopped_by_pid(tmp_path: Path) -> None:
    port, control_port = free_port(), free_port()
    spool = tmp_path / "spool"
    process = subprocess.Popen(
        [
            *(sys.executable, "-m", "hardware.printer.virtual"),
            *("--port", str(port), "--spool", str(spool), "--control-port", str(control_port)),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        ready = json.loads(process.stdout.readline())
        assert ready == {"listening": f"127.0.0.1:{port}", "control": f"127.0.0.1:{control_port}"}
        assert wait_for_port("127.0.0.1", port)
        control = VirtualPrinterControl("127.0.0.1", control_port)
        config = PrinterConfig(
            backend="virtual", virtual=VirtualConfig(host="127.0.0.1", port=port, timeout_s=5)
        )
        with open_printer(config) as printer:
            printer.print_receipt(sample_receipt())
            assert control.set_state("paper-out")["state"] == "paper-out"
            assert printer.status().state == "paper-out"
            control.load_paper()
            assert printer.status().state == "ok"
            (job,) = control.jobs()
            assert job["complete"]
            process.terminate()
            assert process.wait(timeout=30) == 0
            with pytest.raises(PrinterOfflineError):
                printer.status()
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        process.stdout.close()
    assert (spool / "job-000001.bin").stat().st_size > 0


# --- other transports ----------------------------------------------------------------------


def test_file_transport_writes_the_job_and_cannot_read_status(tmp_path: Path) -> None:
    device = tmp_path / "lp0"
    layout = ReceiptLayout(LayoutConfig(text_mode="codepage"))
    with ReceiptPrinter(FileTransport(str(device)), layout) as printer:
        assert printer.status() == st.UNVERIFIED
        printer.print_receipt(sample_receipt())
    assert device.read_bytes() == layout.render(sample_receipt())


def test_serial_transport_reads_the_status_byte() -> None:
    controller, device = pty.openpty()
    tty.setraw(controller)
    stop = threading.Event()

    def fake_printer() -> None:
        # Answer every DLE EOT n as a printer out of paper would.
        pending = b""
        while not stop.is_set():
            pending += os.read(controller, 1024)
            while b"\x10\x04" in pending:
                _, _, rest = pending.partition(b"\x10\x04")
                if not rest:
                    break
                os.write(controller, bytes((st.answers("paper-out")[rest[0]],)))
                pending = rest[1:]

    thread = threading.Thread(target=fake_printer, daemon=True)
    thread.start()
    try:
        transport = SerialTransport(os.ttyname(device), timeout_s=5.0, dsrdtr=False)
        with ReceiptPrinter(transport, ReceiptLayout(LayoutConfig(text_mode="codepage"))) as p:
            assert p.status().state == "paper-out"
    finally:
        stop.set()
        os.write(device, b"\x10\x04\x01")  # unblock the reader so it sees stop
        thread.join(timeout=10)
        os.close(device)
        os.close(controller)


def test_usb_without_pyusb_is_unavailable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("hardware.printer.transport.usb", None)
    config = printer_config({"transport": "usb"})
    with pytest.raises(BackendUnavailableError):
        open_printer(config, "real")


def test_backend_from_the_environment_and_fallback(
    virtual_printer: VirtualPrinter, monkeypatch: pytest.MonkeyPatch
) -> None:
    host, port = virtual_printer.address
    config = printer_config({"transport": "usb", "virtual": {"host": host, "port": port}})
    monkeypatch.setenv("STATION_PRINTER_BACKEND", "virtual")
    with open_printer(config) as printer:
        assert printer.status().state == "ok"
    monkeypatch.delenv("STATION_PRINTER_BACKEND")
    monkeypatch.setattr("hardware.printer.transport.usb", None)
    with pytest.warns(BackendFallbackWarning), open_printer(config) as printer:
        assert printer.status().state == "ok"


def test_config_errors() -> None:
    with pytest.raises(HardwareConfigError):
        printer_config({"transport": "parallel"})
    with pytest.raises(HardwareConfigError):
        ReceiptLayout(LayoutConfig(font="No Such Font Anywhere"))
    with pytest.raises(HardwareConfigError, match="timezone"):
        printer_config({"layout": {"timezone": "Asia/Bangkok"}})  # the station's [local_time]


# --- the renderer --------------------------------------------------------------------------


def dark_fraction(image: Image.Image) -> float:
    pixels = image.convert("L").tobytes()
    return sum(1 for value in pixels if value < 128) / max(1, len(pixels))


def test_render_a_thai_receipt_to_png(tmp_path: Path) -> None:
    layout = ReceiptLayout(LayoutConfig(text_mode="image"))
    data = layout.render(sample_receipt())
    spool = tmp_path / "job.bin"
    spool.write_bytes(data)
    out = tmp_path / "receipt.png"
    assert render_module.main([str(spool), str(out)]) == 0
    rasters = [c.raw for c in iter_commands(data) if c.name == "GS v 0"]
    heights = [int.from_bytes(raw[6:8], "little") for raw in rasters]
    with Image.open(out) as png:
        png.load()
        assert png.format == "PNG"
        assert png.width == 576
        # Images, the QR symbol and the feed before the cut: at least their sum.
        assert sum(heights) < png.height < sum(heights) + 600
        # The title (the first raster image) is drawn exactly, dot for dot.
        title = png.crop((0, 8, 576, 8 + heights[0]))
    # ESC/POS sets a bit for a black dot; Pillow's mode 1 sets it for white.
    expected = Image.frombytes("1", (576, heights[0]), rasters[0][8:]).convert("L")
    assert title.tobytes() == bytes(255 - value for value in expected.tobytes())
    assert 0.02 < dark_fraction(title) < 0.5  # Thai text, not a blank or a black box


def test_render_codepage_text_qr_and_cut() -> None:
    data = ReceiptLayout(LayoutConfig(text_mode="codepage")).render(sample_receipt())
    rendering = render_module.render(data)
    assert rendering.skipped == []
    image = rendering.image
    assert image.width == 576
    top = image.crop((0, 0, 576, 60))
    assert dark_fraction(top) > 0.02  # the double-size Thai title
    bottom = image.crop((0, image.height - 40, 576, image.height))
    assert dark_fraction(bottom) > 0  # the cut line


def test_render_cli_reports_a_missing_file(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    assert render_module.main([str(tmp_path / "none.bin"), str(tmp_path / "x.png")]) == 1
    assert "error" in capsys.readouterr().err


def test_printer_modules_import_no_server_mqtt_or_station_code() -> None:
    modules = ["hardware.printer", "hardware.printer.virtual", "hardware.printer.render"]
    code = (
        f"import sys; import {', '.join(modules)}; "
        "bad = [m for m in sys.modules if m.split('.')[0] in "
        "('flask', 'paho', 'sync_server', 'device')]; print(bad); sys.exit(bool(bad))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
