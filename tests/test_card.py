"""The card reader against the real stack: pcscd + vsmartcard's vpcd + virtual card processes.

One pcscd per test module (the ``pcscd`` fixture in conftest), started by pid in the
foreground with a reader.conf.d of its own (vpcd on a free port pair) and stopped by pid.
Every card is a ``python -m hardware.card.virtual`` process: starting it inserts the card,
stopping it pulls it.
``wait_until`` and the reader's ``wait_for_*`` timeouts are hang guards only.
"""

from __future__ import annotations

import base64
import dataclasses
import json
import subprocess
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from contract.identifiers import is_valid_citizen_id
from devtools.cardstack import CardStackError, LocalPcscd, VirtualCardProcess
from devtools.synthetic import write_card_files
from hardware.card import CardConfig, CardEvent, ThaiIdCard, ThaiIdCardReader, apdu
from hardware.card.pcsc import PcscTransport
from hardware.exc import (
    CardCommandError,
    CardDataError,
    CardRemovedError,
    NoCardError,
    NotThaiIdCardError,
    ReaderUnavailableError,
)
from tests.helpers import wait_until

GUARD_S = 30.0  # hang guard for every wait below


# --- fixtures ------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def card_files(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    return write_card_files(12, tmp_path_factory.mktemp("cards"), seed=2026)


def load(path: Path) -> dict:
    return json.loads(path.read_text("utf-8"))


def pick(card_files: list[Path], predicate: Callable[[dict], bool]) -> Path:
    """The first card file whose resident values satisfy ``predicate``."""
    return next(p for p in card_files if predicate(load(p)["resident"]))


class RecordingReader(ThaiIdCardReader):
    """A reader that keeps every event its callbacks get, in order."""

    def __init__(self, config: CardConfig) -> None:
        self.events: list[CardEvent] = []
        super().__init__(config)
        self.when_inserted = self.events.append
        self.when_removed = self.events.append


@pytest.fixture
def reader(pcscd: LocalPcscd) -> Iterator[RecordingReader]:
    config = CardConfig(backend="real", reader_filter="Virtual PCD", settle_s=0.05, poll_s=0.2)
    with RecordingReader(config) as card_reader:
        assert card_reader.wait_for_scan(GUARD_S)
        yield card_reader


def slot_empty(pcscd: LocalPcscd, slot: int) -> bool:
    transport = PcscTransport()
    try:
        state = transport.snapshot().get(pcscd.reader(slot))
    except ReaderUnavailableError:
        return False
    finally:
        transport.close()
    return state is not None and not state.present


@pytest.fixture
def insert(pcscd: LocalPcscd) -> Iterator[Callable[..., VirtualCardProcess]]:
    """Start a virtual card process; all are stopped, and the slots seen empty, at the end."""
    cards: list[tuple[VirtualCardProcess, int]] = []

    def start(card_file: Path, *options: str, slot: int = 0) -> VirtualCardProcess:
        card = VirtualCardProcess(card_file, pcscd.slot_port(slot), list(options)).start()
        cards.append((card, slot))
        return card

    yield start
    for card, slot in cards:
        card.stop()
        # The next test must not meet this card: wait until pcscd has seen it go.
        if pcscd.process is not None:
            wait_until(lambda s=slot: slot_empty(pcscd, s), "the slot to empty", GUARD_S)


def values_of(record: ThaiIdCard) -> dict:
    """A record as the plain values the card file's ``resident`` section holds."""
    values = dataclasses.asdict(record)
    for key in ("date_of_birth", "issue_date", "expiry_date"):
        values[key] = values[key].isoformat() if values[key] else None
    del values["reader"], values["atr"]
    return values


def read_when_inserted(reader: ThaiIdCardReader) -> ThaiIdCard:
    assert reader.wait_for_card(GUARD_S) is not None, "the card was never announced"
    return reader.read()


# --- reading -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "kind",
    ["rural", "bangkok", "year-only birth date", "lifelong"],
)
def test_reads_every_text_field(kind, card_files, reader, insert, pcscd):
    predicates = {
        "rural": lambda r: r["address"]["moo"] and r["expiry_date"],
        "bangkok": lambda r: r["address"]["province"] == "กรุงเทพมหานคร",
        "year-only birth date": lambda r: r["date_of_birth"] is None,
        "lifelong": lambda r: r["expiry_date"] is None and r["date_of_birth"],
    }
    card_file = pick(card_files, predicates[kind])
    expected = load(card_file)["resident"]
    insert(card_file)

    record = read_when_inserted(reader)

    assert values_of(record) == expected
    assert is_valid_citizen_id(record.citizen_id)
    assert record.reader == pcscd.reader(0)
    assert record.atr == apdu.ATR_DEFAULT
    prefix, first, last = (expected["name_th"][k] for k in ("prefix", "first", "last"))
    assert record.name_th.full == f"{prefix}{first} {last}"
    assert reader.last_stats.apdus == 1 + 2 * len(apdu.TEXT_FIELDS)
    assert record.citizen_id not in repr(record)  # a record in a log line leaks nothing


def test_photo_is_the_files_jpeg_byte_for_byte(card_files, reader, insert):
    card_file = card_files[0]
    jpeg = base64.b64decode(load(card_file)["photo_jpeg"])
    # The synthetic photo puts a 0x20 at a chunk edge: stripping spaces per chunk would show.
    edges = [i * apdu.PHOTO_CHUNK + d for i in range(1, 20) for d in (-1, 0)]
    assert any(e < len(jpeg) and jpeg[e] == 0x20 for e in edges)
    insert(card_file)

    record = read_when_inserted(reader)
    photo = reader.read_photo()

    assert photo == jpeg
    assert reader.last_stats.apdus == 1 + 2 * apdu.PHOTO_CHUNKS
    assert reader.last_stats.bytes_received >= apdu.PHOTO_AREA
    # Read again without pulling the card (some readers hang there): same answers.
    for _ in range(3):
        assert reader.read() == record
        assert reader.read_photo() == jpeg


def test_atr_3b67_variant_uses_its_get_response(card_files, reader, insert, pcscd):
    card_file = card_files[1]
    insert(card_file, "--atr-variant", "3b67")

    record = read_when_inserted(reader)
    photo = reader.read_photo()

    assert record.atr[:2] == b"\x3b\x67"
    assert values_of(record) == load(card_file)["resident"]
    assert photo == base64.b64decode(load(card_file)["photo_jpeg"])
    # ...and that card refuses the other variant's GET RESPONSE (00 C0 00 00): the reader
    # passed only because it chose P2 from the ATR.
    transport = PcscTransport()
    try:
        with transport.connect(pcscd.reader(0)) as link:
            link.transmit(apdu.SELECT_THAI_ID)
            _, sw1, _ = link.transmit(apdu.read_binary(0x0004, 13))
            assert sw1 == 0x61
            _, sw1, sw2 = link.transmit(apdu.get_response(13, apdu.ATR_DEFAULT))
            assert (sw1, sw2) == (0x6A, 0x86)
    finally:
        transport.close()


# --- faults --------------------------------------------------------------------------------


def test_card_pulled_mid_text_gives_no_record(card_files, reader, insert):
    insert(card_files[2], "--fail-after-apdus", "8")  # SELECT + 3.5 fields
    assert reader.wait_for_card(GUARD_S) is not None

    with pytest.raises(CardRemovedError) as info:
        reader.read()

    assert isinstance(info.value, ConnectionError)
    assert reader.wait_for_removal(GUARD_S)
    assert [e.kind for e in reader.events] == ["inserted", "removed"]


def test_card_pulled_mid_photo(card_files, reader, insert):
    text_apdus = 1 + 2 * len(apdu.TEXT_FIELDS)
    card = insert(card_files[3], "--fail-after-apdus", str(text_apdus + 1 + 2 * 10))
    record = read_when_inserted(reader)
    assert is_valid_citizen_id(record.citizen_id)

    with pytest.raises(CardRemovedError):
        reader.read_photo()

    assert card.wait_for_line("pulled after", GUARD_S) is not None
    assert reader.wait_for_removal(GUARD_S)
    with pytest.raises(NoCardError):  # the link died with the card: no photo of anyone
        reader.read_photo()


def test_card_process_killed_during_photo(card_files, reader, insert):
    """The card stops answering in the middle of the photo and its process is SIGKILLed."""
    text_apdus = 1 + 2 * len(apdu.TEXT_FIELDS)
    card = insert(card_files[4], "--hang-after-apdus", str(text_apdus + 1 + 2 * 7))
    read_when_inserted(reader)
    outcome: list[BaseException | bytes] = []

    def read_photo() -> None:
        try:
            outcome.append(reader.read_photo())
        except BaseException as exc:
            outcome.append(exc)

    thread = threading.Thread(target=read_photo)
    thread.start()
    assert card.wait_for_line("hanging after", GUARD_S) is not None  # mid-photo, for sure
    card.kill()
    thread.join(GUARD_S)

    assert not thread.is_alive()
    assert len(outcome) == 1 and isinstance(outcome[0], CardRemovedError)
    assert reader.wait_for_removal(GUARD_S)


def test_unknown_card_is_not_thai_id(card_files, reader, insert):
    insert(card_files[0], "--no-applet")
    assert reader.wait_for_card(GUARD_S) is not None

    with pytest.raises(NotThaiIdCardError):
        reader.read()


def test_bad_status_word_names_the_field(card_files, reader, insert):
    insert(card_files[0], "--bad-sw", "address=6A82")
    assert reader.wait_for_card(GUARD_S) is not None

    with pytest.raises(CardCommandError, match="address") as info:
        reader.read()

    assert (info.value.sw1, info.value.sw2) == (0x6A, 0x82)


def test_bad_checksum_is_a_data_error(card_files, reader, insert, tmp_path):
    doc = load(card_files[0])
    cid = doc["card"]["citizen_id"]
    doc["card"]["citizen_id"] = cid[:12] + str((int(cid[12]) + 1) % 10)
    bad = tmp_path / "bad-checksum.json"
    bad.write_text(json.dumps(doc, ensure_ascii=False), "utf-8")
    insert(bad)
    assert reader.wait_for_card(GUARD_S) is not None

    with pytest.raises(CardDataError) as info:
        reader.read()

    assert info.value.field == "citizen_id"
    assert isinstance(info.value, ValueError)
    assert doc["card"]["citizen_id"] not in str(info.value)


def test_a_second_pcscd_is_refused_clearly(pcscd):
    with pytest.raises(CardStackError, match="already running"):
        LocalPcscd().start()


def test_no_card(reader):
    with pytest.raises(NoCardError):
        reader.read()
    with pytest.raises(NoCardError):
        reader.read_photo()


def test_no_matching_reader(pcscd):
    config = CardConfig(backend="real", reader_filter="Alcor", settle_s=0.05, poll_s=0.2)
    with ThaiIdCardReader(config) as card_reader:
        assert card_reader.wait_for_scan(GUARD_S)
        assert card_reader.readers == []
        with pytest.raises(ReaderUnavailableError):
            card_reader.read()


def test_pcscd_down_then_restarted(card_files, reader, insert, pcscd):
    card_file = card_files[5]
    card = insert(card_file)
    first = read_when_inserted(reader)
    try:
        pcscd.stop()
        wait_until(lambda: reader.readers == [], "the readers to vanish", GUARD_S)
        with pytest.raises(ReaderUnavailableError):
            reader.read()
        assert card.wait_for_line("vpcd closed", GUARD_S) is not None  # and it keeps trying
    finally:
        if pcscd.process is None:
            pcscd.restart()

    wait_until(lambda: len(reader.events) >= 3, "the card to come back", GUARD_S)
    again = read_when_inserted(reader)

    assert again == first
    assert [(e.kind, e.reader) for e in reader.events] == [
        ("inserted", pcscd.reader(0)),
        ("removed", pcscd.reader(0)),
        ("inserted", pcscd.reader(0)),
    ]


def test_two_cards_in_quick_succession(card_files, reader, insert, pcscd):
    first_file, second_file = card_files[6], card_files[7]
    first = insert(first_file)
    first_record = read_when_inserted(reader)
    first.stop()  # pull it and insert the next at once, without waiting for the removal
    second = insert(second_file)
    wait_until(lambda: len(reader.events) >= 3, "the second card", GUARD_S)
    second_record = read_when_inserted(reader)
    second.stop()
    wait_until(lambda: len(reader.events) >= 4, "the second removal", GUARD_S)

    assert values_of(first_record) == load(first_file)["resident"]
    assert values_of(second_record) == load(second_file)["resident"]
    assert [(e.kind, e.reader) for e in reader.events] == [
        ("inserted", pcscd.reader(0)),
        ("removed", pcscd.reader(0)),
        ("inserted", pcscd.reader(0)),
        ("removed", pcscd.reader(0)),
    ]
    times = [e.at for e in reader.events]
    assert times == sorted(times)


def test_second_slot(card_files, reader, insert, pcscd):
    card_file = card_files[8]
    insert(card_file, slot=1)
    event = reader.wait_for_card(GUARD_S)

    assert event is not None and event.reader == pcscd.reader(1)
    assert values_of(reader.read()) == load(card_file)["resident"]


# --- other PC/SC clients see it as a real card -----------------------------------------------


def run_tool(*args: str) -> str:
    result = subprocess.run(
        ["timeout", "20", *args], capture_output=True, text=True, timeout=30, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def test_pcsc_scan_and_opensc_tool_see_reader_and_card(card_files, reader, insert, pcscd):
    insert(card_files[9])
    assert reader.wait_for_card(GUARD_S) is not None
    atr_spaced = apdu.ATR_DEFAULT.hex(" ").upper()

    assert pcscd.reader(0) in run_tool("pcsc_scan", "-r")
    scan = run_tool("pcsc_scan", "-t", "1")  # with ATR analysis, quits after a second
    assert atr_spaced in scan
    assert "Thai National ID Card" in scan  # pcsc-tools' own ATR list recognises it

    listed = run_tool("opensc-tool", "--list-readers")
    assert pcscd.reader(0) in listed
    row = next(line for line in listed.splitlines() if line.endswith(pcscd.reader(0)))
    assert "Yes" in row  # "Card: Yes"
    assert run_tool("opensc-tool", "-r", "0", "-a").strip() == apdu.ATR_DEFAULT.hex(":")

    # opensc probed the card with its own drivers meanwhile; ours still reads it.
    assert values_of(reader.read()) == load(card_files[9])["resident"]


def test_virtual_backend_reads_the_same_record(card_files, reader, insert):
    card_file = card_files[10]
    insert(card_file)
    through_pcscd = read_when_inserted(reader)
    photo_through_pcscd = reader.read_photo()

    config = CardConfig(backend="virtual", virtual_card_file=str(card_file), settle_s=0)
    with ThaiIdCardReader(config) as in_process:
        assert in_process.wait_for_card(GUARD_S) is not None
        record = in_process.read()
        photo = in_process.read_photo()

    assert in_process.backend == "virtual"
    assert dataclasses.replace(record, reader=through_pcscd.reader) == through_pcscd
    assert photo == photo_through_pcscd
