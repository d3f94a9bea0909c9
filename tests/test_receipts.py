"""The receipt spool: durable before printing, sealed at rest, kept through paper-out and
printer-offline, printed once; and never a password or the old-age savings."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from device.receipts import (
    NEVER_PRINTED,
    RECEIPT_KINDS,
    ReceiptSpool,
    ReceiptWorker,
    StationReceipt,
)
from device.store import LATEST_VERSION, Store, create_key_file, open_store
from hardware.exc import ReceiptContentError
from hardware.printer import LayoutConfig, PrinterConfig, Receipt, ReceiptLine, open_printer
from hardware.printer.config import VirtualConfig
from hardware.printer.virtual import VirtualPrinter
from tests.helpers import wait_until

NOW = datetime(2025, 3, 12, 7, 5, tzinfo=UTC)
APPLICANT = "นางสาวทดสอบ ใจดีเสมอ"  # synthetic


def petition_receipt(number: str = "P-ST-A-0000001-X") -> Receipt:
    return Receipt(
        title="ใบรับคำร้องทั่วไป",
        issued_at=NOW,
        lines=(
            ReceiptLine("service", "บริการ / Service", "คำร้องทั่วไป"),
            ReceiptLine("name", "ผู้ยื่น / Applicant", APPLICANT),
        ),
        number=number,
        tracking_url=f"https://track.example.invalid/p/{number}",
    )


@pytest.fixture
def store_paths(tmp_path: Path) -> tuple[Path, Path]:
    key = tmp_path / "secrets" / "store.key"
    create_key_file(key)
    return tmp_path / "data" / "store.sqlite3", key


@pytest.fixture
def store(store_paths: tuple[Path, Path]) -> Iterator[Store]:
    with open_store(*store_paths, "st-a", clock=lambda: NOW) as opened:
        yield opened


@pytest.fixture
def spool(store: Store) -> ReceiptSpool:
    return ReceiptSpool(store)


@pytest.fixture
def virtual_printer(tmp_path: Path) -> Iterator[VirtualPrinter]:
    with VirtualPrinter(tmp_path / "spool") as printer:
        yield printer


@pytest.fixture
def printer(virtual_printer: VirtualPrinter):
    host, port = virtual_printer.address
    config = PrinterConfig(
        backend="virtual",
        virtual=VirtualConfig(host=host, port=port, timeout_s=5),
        layout=LayoutConfig(text_mode="image"),
    )
    with open_printer(config) as receipt_printer:
        yield receipt_printer


def complete_jobs(virtual_printer: VirtualPrinter) -> list[bytes]:
    return [job.data() for job in virtual_printer.jobs() if job.complete]


# --- the store --------------------------------------------------------------------------


def test_migration_3_creates_the_receipt_table(store: Store) -> None:
    assert LATEST_VERSION >= 3  # later migrations add other tables
    assert store.schema_version == LATEST_VERSION
    columns = [row[1] for row in store.db.execute_sql("PRAGMA table_info(receipt)").fetchall()]
    assert columns == [
        "seq",
        "receipt_id",
        "kind",
        "queued_at",
        "sealed_body",
        "state",
        "attempts",
        "last_error",
        "settled_at",
    ]
    with pytest.raises(Exception, match="CHECK constraint"):
        store.db.execute_sql(
            "INSERT INTO receipt (receipt_id, kind, queued_at, sealed_body, state)"
            " VALUES ('x', 'petition.filed', 'now', x'00', 'lost')"
        )


def test_queued_receipt_is_durable_and_sealed(
    store_paths: tuple[Path, Path], spool: ReceiptSpool, store: Store
) -> None:
    receipt_id = spool.queue("petition.filed", petition_receipt())
    assert spool.state_of(receipt_id) == "queued"
    store.close()
    raw = b"".join(path.read_bytes() for path in store_paths[0].parent.glob("store.sqlite3*"))
    assert APPLICANT.encode() not in raw  # sealed at rest
    assert b"P-ST-A-0000001-X" not in raw
    with open_store(*store_paths, "st-a") as reopened:
        item = ReceiptSpool(reopened).next_queued()
        assert item is not None
        assert item.receipt_id == receipt_id
        assert item.receipt == StationReceipt(kind="petition.filed", content=petition_receipt())


def test_receipt_commits_with_the_petition_or_not_at_all(store: Store, spool: ReceiptSpool) -> None:
    with pytest.raises(RuntimeError), store.atomic():
        spool.queue("petition.filed", petition_receipt())
        raise RuntimeError("power cut before the commit")
    assert spool.counts() == {"queued": 0, "printed": 0, "failed": 0}


# --- what may be printed ------------------------------------------------------------------


@pytest.mark.parametrize("kind", [*sorted(NEVER_PRINTED), "insured.record", ""])
def test_kinds_outside_the_allowlist_are_refused(spool: ReceiptSpool, kind: str) -> None:
    with pytest.raises(ReceiptContentError):
        spool.queue(kind, petition_receipt())
    assert spool.counts()["queued"] == 0


@pytest.mark.parametrize(
    "line",
    [
        ReceiptLine("password", "Password", "Secr3t!"),
        ReceiptLine("new_password", "รหัสผ่านใหม่", "Secr3t!"),
        ReceiptLine("old_age", "Savings", "12,345.00"),
        ReceiptLine("balance", "เงินออมกรณีชราภาพ", "12,345.00"),
        ReceiptLine("otp", "OTP", "123456"),
    ],
)
def test_password_and_old_age_savings_can_never_be_queued(
    spool: ReceiptSpool, line: ReceiptLine
) -> None:
    with pytest.raises(ReceiptContentError) as caught:
        spool.queue(
            "petition.filed",
            Receipt(title="ใบรับ", issued_at=NOW, lines=(line,)),
        )
    assert line.value not in str(caught.value)
    assert spool.counts()["queued"] == 0


def test_allowed_kinds_are_few_and_named() -> None:
    assert RECEIPT_KINDS.isdisjoint(NEVER_PRINTED)
    assert not any("password" in kind or "old_age" in kind for kind in RECEIPT_KINDS)


def test_a_stored_receipt_that_no_longer_passes_is_never_printed(
    spool: ReceiptSpool, store: Store, virtual_printer: VirtualPrinter, printer
) -> None:
    receipt_id = spool.queue("petition.filed", petition_receipt())
    # Tamper with the row: the seal no longer authenticates.
    store.db.execute_sql(
        "UPDATE receipt SET sealed_body = x'00112233445566778899aabbccddeeff00112233'"
    )
    assert ReceiptWorker(spool, printer).run_once() == "idle"
    assert spool.state_of(receipt_id) == "failed"
    assert virtual_printer.jobs() == []


# --- printing -----------------------------------------------------------------------------


def test_worker_prints_a_queued_receipt(
    spool: ReceiptSpool, virtual_printer: VirtualPrinter, printer
) -> None:
    receipt_id = spool.queue("petition.filed", petition_receipt())
    worker = ReceiptWorker(spool, printer)
    assert worker.run_once() == "printed"
    assert worker.run_once() == "idle"
    assert spool.state_of(receipt_id) == "printed"
    assert complete_jobs(virtual_printer) == [printer.render(petition_receipt())]


def test_out_of_paper_mid_job_then_refilled_prints_exactly_once(
    spool: ReceiptSpool, virtual_printer: VirtualPrinter, printer
) -> None:
    expected = printer.render(petition_receipt())
    first = spool.queue("petition.filed", petition_receipt())
    second = spool.queue("petition.filed", petition_receipt("P-ST-A-0000002-X"))
    virtual_printer.load_paper(len(expected) // 2)  # the roll ends half way through
    worker = ReceiptWorker(spool, printer)

    assert worker.run_once() == "paper-out"
    assert spool.state_of(first) == "queued"
    assert spool.attempts_of(first) == 1
    (torn,) = virtual_printer.jobs()
    assert not torn.complete
    # While out of paper nothing more is sent, however often the worker looks.
    assert worker.run_once() == "paper-out"
    assert worker.run_once() == "paper-out"
    assert len(virtual_printer.jobs()) == 1
    assert spool.attempts_of(first) == 1

    virtual_printer.load_paper()
    assert worker.run_once() == "printed"
    assert worker.run_once() == "printed"
    assert worker.run_once() == "idle"
    assert spool.state_of(first) == spool.state_of(second) == "printed"
    assert complete_jobs(virtual_printer) == [
        expected,
        printer.render(petition_receipt("P-ST-A-0000002-X")),
    ]
    assert worker.run_once() == "idle"
    assert len(virtual_printer.jobs()) == 3  # the torn one and two whole ones; nothing else


def test_printer_offline_keeps_the_receipt_queued(
    spool: ReceiptSpool, virtual_printer: VirtualPrinter, printer
) -> None:
    receipt_id = spool.queue("petition.filed", petition_receipt())
    virtual_printer.set_state("offline")
    worker = ReceiptWorker(spool, printer)
    assert worker.run_once() == "offline"
    assert spool.state_of(receipt_id) == "queued"
    assert printer.state == "offline"
    virtual_printer.set_state("ok")
    assert worker.run_once() == "printed"
    assert len(complete_jobs(virtual_printer)) == 1


def test_printer_gone_for_good_is_offline_and_nothing_is_lost(
    tmp_path: Path, spool: ReceiptSpool
) -> None:
    virtual = VirtualPrinter(tmp_path / "a").start()
    host, port = virtual.address
    config = PrinterConfig(
        backend="virtual", virtual=VirtualConfig(host=host, port=port, timeout_s=5)
    )
    with open_printer(config) as printer:
        receipt_id = spool.queue("petition.filed", petition_receipt())
        virtual.close()  # switched off: the port refuses connections
        worker = ReceiptWorker(spool, printer)
        assert worker.run_once() == "offline"
        assert spool.state_of(receipt_id) == "queued"
        with VirtualPrinter(tmp_path / "b", port=port) as replacement:
            assert worker.run_once() == "printed"
            assert len(complete_jobs(replacement)) == 1
    assert spool.state_of(receipt_id) == "printed"


def test_background_worker_waits_for_paper_and_prints_once(
    spool: ReceiptSpool, virtual_printer: VirtualPrinter, printer
) -> None:
    expected = printer.render(petition_receipt())
    paper_out: list[str] = []
    printer.when_paper_out = lambda status: paper_out.append(status.state)
    virtual_printer.load_paper(len(expected) // 3)
    with ReceiptWorker(spool, printer, poll_interval_s=0.05) as worker:
        receipt_id = spool.queue("petition.filed", petition_receipt())
        wait_until(lambda: paper_out, "the paper-out event")
        assert spool.state_of(receipt_id) == "queued"
        virtual_printer.load_paper()
        wait_until(lambda: spool.state_of(receipt_id) == "printed", "the reprint")
        worker.stop()
    assert complete_jobs(virtual_printer) == [expected]
    assert spool.counts() == {"queued": 0, "printed": 1, "failed": 0}


def test_purge_removes_settled_receipts_after_retention(store_paths: tuple[Path, Path]) -> None:
    now = [NOW]
    with open_store(*store_paths, "st-a", clock=lambda: now[0]) as store:
        spool = ReceiptSpool(store)
        printed = spool.queue("petition.filed", petition_receipt())
        waiting = spool.queue("petition.filed", petition_receipt())
        spool.mark_printed(printed)
        now[0] = NOW + timedelta(days=8)
        assert spool.purge(timedelta(days=7)) == 1
        assert spool.state_of(printed) is None
        assert spool.state_of(waiting) == "queued"
