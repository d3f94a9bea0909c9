"""The card reader without pcscd: decoding, the applet, card files, and the reader's events on
the in-process ``virtual`` backend (the same protocol code as the real one)."""

from __future__ import annotations

import dataclasses
import io
import subprocess
import sys
import threading
from datetime import date
from pathlib import Path

import pytest
from click.testing import CliRunner
from PIL import Image

from contract.identifiers import is_valid_citizen_id
from devtools.synthetic import (
    cli,
    residents,
    synthetic_photo,
    write_card_file,
    write_card_files,
)
from hardware.backend import env_var
from hardware.card import CardConfig, CardEvent, ThaiIdCardReader, apdu, card_config_from_dict
from hardware.card.record import (
    Address,
    decode_text,
    jpeg_length,
    parse_address,
    parse_be_date,
    parse_citizen_id,
    parse_expiry,
    parse_name,
    parse_sex,
    photo_from_area,
)
from hardware.card.virtual import CardFile, VirtualThaiIdCard, VirtualTransport, build_image
from hardware.card.virtual.cardfile import encode_field, load_card_file
from hardware.exc import (
    CardCommandError,
    CardDataError,
    CardRemovedError,
    HardwareConfigError,
    HardwareError,
    NoCardError,
    NotThaiIdCardError,
    ReaderUnavailableError,
)
from tests.helpers import wait_until

GUARD_S = 30.0

# --- citizen id ----------------------------------------------------------------------------


def test_the_card_id_is_checked_by_the_contract_rule():
    assert parse_citizen_id("0123456789016".encode("tis-620")) == "0123456789016"
    with pytest.raises(CardDataError) as refused:
        parse_citizen_id(b"0123456789017  ")  # synthetic, with a wrong check digit
    assert refused.value.field == "citizen_id"
    assert "0123456789017" not in str(refused.value)


# --- fields --------------------------------------------------------------------------------


def test_dates_are_buddhist_era():
    assert parse_be_date("25300512", "date_of_birth") == (1987, date(1987, 5, 12))
    assert parse_be_date("24900000", "date_of_birth") == (1947, None)  # year only
    assert parse_expiry("99999999") is None  # lifelong card
    assert parse_expiry("25750301") == date(2032, 3, 1)
    for bad in ("25301332", "2530051", "2530O512", "๒๕๓๐๐๕๑๒"):
        with pytest.raises(CardDataError) as info:
            parse_be_date(bad, "issue_date")
        assert info.value.field == "issue_date"


def test_names_are_hash_separated():
    th = parse_name("นาย#สมชาย##ใจดี", "name_th")
    en = parse_name("Mr.#Napat##Rungruangbangchan", "name_en")
    assert (th.prefix, th.first, th.middle, th.last) == ("นาย", "สมชาย", "", "ใจดี")
    assert th.full == "นายสมชาย ใจดี"
    assert en.full == "Mr. Napat Rungruangbangchan"
    assert parse_name("Miss#Ann#Marie#Lee", "name_en").full == "Miss Ann Marie Lee"
    for bad in ("Somchai Jaidee", "Mr.##Jaidee", "a#b#c#d#e"):
        with pytest.raises(CardDataError) as info:
            parse_name(bad, "name_en")
        assert info.value.field == "name_en"


def test_text_is_tis620_without_padding():
    assert decode_text("นาย#สมชาย##ใจดี".encode("tis-620") + b" " * 20, "name_th") == (
        "นาย#สมชาย##ใจดี"
    )
    assert decode_text(b"1\x00\x00", "sex") == "1"
    with pytest.raises(CardDataError) as info:
        decode_text(b"\xdb\xfc", "issuer")  # unassigned in TIS-620
    assert info.value.field == "issuer"


def test_sex():
    assert parse_sex("1") == "male"
    assert parse_sex("2") == "female"
    with pytest.raises(CardDataError):
        parse_sex("3")


def test_address_parts_by_prefix():
    rural = parse_address(
        "99/9#หมู่ที่ 5#ตรอกวัดโพธิ์#ซอยสุขใจ#ถนนพหลโยธิน#ตำบลบางพูด#อำเภอปากเกร็ด#จังหวัดนนทบุรี"
    )
    assert rural == Address(
        house_no="99/9",
        moo="5",
        trok="วัดโพธิ์",
        soi="สุขใจ",
        road="พหลโยธิน",
        other="",
        subdistrict="บางพูด",
        district="ปากเกร็ด",
        province="นนทบุรี",
    )
    assert rural.line == (
        "99/9 หมู่ที่ 5 ตรอกวัดโพธิ์ ซอยสุขใจ ถนนพหลโยธิน ตำบลบางพูด อำเภอปากเกร็ด จังหวัดนนทบุรี"
    )
    bangkok = parse_address("12####ถนนพหลโยธิน#แขวงลาดยาว#เขตจตุจักร#กรุงเทพมหานคร")
    assert (bangkok.road, bangkok.subdistrict, bangkok.district, bangkok.province) == (
        "พหลโยธิน",
        "ลาดยาว",
        "จตุจักร",
        "กรุงเทพมหานคร",
    )
    assert bangkok.line == "12 ถนนพหลโยธิน แขวงลาดยาว เขตจตุจักร กรุงเทพมหานคร"
    # Fewer parts, and a part without a known prefix (a village name).
    short = parse_address("7#หมู่บ้านสุขสันต์#ตำบลในเมือง#อำเภอเมืองขอนแก่น#จังหวัดขอนแก่น")
    assert (short.moo, short.other, short.district) == ("", "หมู่บ้านสุขสันต์", "เมืองขอนแก่น")
    for bad in ("no separators", "#หมู่ที่ 5#ตำบลก#อำเภอข#จังหวัดค", "1#2#3"):
        with pytest.raises(CardDataError) as info:
            parse_address(bad)
        assert info.value.field == "address"


# --- the photo -----------------------------------------------------------------------------


def small_jpeg(exif: bytes = b"") -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (32, 40), (200, 30, 30)).save(buffer, "JPEG", quality=80, exif=exif)
    return buffer.getvalue()


@pytest.mark.parametrize("pad", [b" ", b"\x00", b"\xff"])
def test_photo_is_cut_at_the_jpeg_end_whatever_the_padding(pad):
    jpeg = small_jpeg()
    assert photo_from_area(jpeg + pad * (apdu.PHOTO_AREA - len(jpeg))) == jpeg


def test_photo_end_is_found_by_structure_not_by_bytes():
    # An APP1 segment holding FF D9 (as an embedded thumbnail would) is not the end.
    jpeg = small_jpeg(exif=b"Exif\x00\x00" + b"\xff\xd9" * 8)
    assert jpeg.find(b"\xff\xd9") < len(jpeg) - 2
    assert jpeg_length(jpeg + b"    ") == len(jpeg)
    # A JPEG that never ends (cut short, or filling the area) comes back as read.
    assert photo_from_area(jpeg[:-40]) == jpeg[:-40]
    with pytest.raises(CardDataError) as info:
        photo_from_area(b" " * apdu.PHOTO_AREA)
    assert info.value.field == "photo"


# --- the applet ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def card_file(tmp_path_factory) -> Path:
    return write_card_file(next(residents(1)), tmp_path_factory.mktemp("card") / "card.json")


def sw(response: bytes) -> str:
    return response[-2:].hex().upper()


def test_applet_answers_like_a_card(card_file):
    card = VirtualThaiIdCard.from_card_file(card_file)
    assert sw(card.process(apdu.read_binary(0x0004, 13))) == "6986"  # not selected
    assert sw(card.process(apdu.get_response(13, card.atr))) == "6985"  # nothing pending
    assert sw(card.process(apdu.SELECT_THAI_ID))[:2] == "61"
    assert sw(card.process(apdu.read_binary(0x0004, 13))) == "610D"
    assert sw(card.process(apdu.get_response(13, apdu.ATR_3B67))) == "6A86"  # other variant
    assert sw(card.process(apdu.read_binary(0x0004, 13))) == "610D"
    assert sw(card.process(apdu.get_response(20, card.atr))) == "6C0D"  # wrong Le
    response = card.process(apdu.get_response(13, card.atr))
    assert sw(response) == "9000" and is_valid_citizen_id(response[:-2].decode())
    assert sw(card.process(apdu.read_binary(0xFFF0, 0x20))) == "6B00"
    assert sw(card.process(bytes.fromhex("80B0000401000D"))) == "6700"
    assert sw(card.process(bytes.fromhex("00CA9F7F00"))) == "6D00"
    assert sw(card.process(bytes.fromhex("A0A4000002"))) == "6E00"
    assert sw(card.process(bytes.fromhex("00A4040007A0000000041010"))) == "6A82"
    card.reset()
    assert sw(card.process(apdu.read_binary(0x0004, 13))) == "6986"  # power cycle deselects


def test_applet_faults(card_file):
    no_applet = VirtualThaiIdCard.from_card_file(card_file, has_applet=False)
    assert sw(no_applet.process(apdu.SELECT_THAI_ID)) == "6A82"
    bad = VirtualThaiIdCard.from_card_file(card_file, "3b67", bad_sw={"photo": (0x6F, 0x00)})
    bad.process(apdu.SELECT_THAI_ID)
    assert sw(bad.process(apdu.read_binary(apdu.PHOTO_OFFSET + apdu.PHOTO_CHUNK, 0xFF))) == "6F00"
    assert sw(bad.process(apdu.read_binary(0x0011, 0x64))) == "6164"
    assert sw(bad.process(bytes([0x00, 0xC0, 0x00, 0x01, 0x64]))) == "9000"


def test_card_file_limits(card_file, tmp_path):
    spec = apdu.FIELDS_BY_NAME["address"]
    assert encode_field(spec, "ก" * 100) == "ก".encode("tis-620") * 100
    with pytest.raises(ValueError, match="address"):
        encode_field(spec, "ก" * 101)
    with pytest.raises(ValueError):
        encode_field(spec, "日本")  # not TIS-620
    loaded = load_card_file(card_file)
    with pytest.raises(ValueError, match="photo"):
        build_image(dataclasses.replace(loaded, photo=b"\xff\xd8" * 3000))
    (tmp_path / "other.json").write_text('{"format": "something else"}')
    with pytest.raises(ValueError, match="not a"):
        load_card_file(tmp_path / "other.json")


# --- the reader on the in-process backend --------------------------------------------------


def virtual_card(path: Path, **options) -> VirtualThaiIdCard:
    return VirtualThaiIdCard.from_card_file(path, **options)


class Recorder(ThaiIdCardReader):
    def __init__(self, transport: VirtualTransport, **config) -> None:
        self.events: list[CardEvent] = []
        settings = {"settle_s": 0.0, "poll_s": 0.2, **config}
        super().__init__(CardConfig(**settings), transport=transport)
        self.when_inserted = self.events.append
        self.when_removed = self.events.append
        assert self.wait_for_scan(GUARD_S)

    def kinds(self) -> list[str]:
        return [event.kind for event in self.events]


@pytest.fixture(scope="module")
def cards(tmp_path_factory) -> list[Path]:
    return write_card_files(3, tmp_path_factory.mktemp("cards"), seed=11)


def test_insert_read_remove(cards):
    transport = VirtualTransport()
    with Recorder(transport) as reader:
        with pytest.raises(NoCardError):
            reader.read()
        transport.insert(virtual_card(cards[0]))
        event = reader.wait_for_card(GUARD_S)
        record = reader.read()
        photo = reader.read_photo()
        transport.remove()
        assert reader.wait_for_removal(GUARD_S)
        wait_until(lambda: len(reader.events) == 2, "the removal event")

    assert event is not None and event.reader == "Virtual Thai ID Reader 00 00"
    assert record.citizen_id == load_card_file(cards[0]).fields["citizen_id"]
    assert photo == load_card_file(cards[0]).photo
    assert reader.kinds() == ["inserted", "removed"]
    assert reader.last_stats is not None and reader.last_stats.apdus == 41


def test_a_swap_between_two_looks_is_two_events_and_no_wrong_photo(cards):
    transport = VirtualTransport()
    with Recorder(transport) as reader:
        transport.insert(virtual_card(cards[0]))
        assert reader.wait_for_card(GUARD_S) is not None
        first = reader.read()
        transport.insert(virtual_card(cards[1]))  # pulls the first card and inserts another
        wait_until(lambda: len(reader.events) == 3, "the swap")
        with pytest.raises(CardRemovedError):
            reader.read_photo()  # the first card is gone: never the second one's photo
        second = reader.read()

    assert reader.kinds() == ["inserted", "removed", "inserted"]
    assert first.citizen_id != second.citizen_id


def test_reader_unplugged_and_plugged_back(cards):
    transport = VirtualTransport()
    with Recorder(transport) as reader:
        transport.insert(virtual_card(cards[0]))
        assert reader.wait_for_card(GUARD_S) is not None
        transport.set_plugged(False)
        assert reader.wait_for_removal(GUARD_S)
        wait_until(lambda: reader.readers == [], "the reader to go")
        with pytest.raises(ReaderUnavailableError):
            reader.read()
        transport.set_plugged(True)
        assert reader.wait_for_card(GUARD_S) is not None
        assert reader.read().citizen_id == load_card_file(cards[0]).fields["citizen_id"]

    assert reader.kinds() == ["inserted", "removed", "inserted"]


def test_service_down_and_back(cards):
    transport = VirtualTransport()
    with Recorder(transport) as reader:
        transport.insert(virtual_card(cards[0]))
        assert reader.wait_for_card(GUARD_S) is not None
        transport.set_service(False)
        wait_until(lambda: reader.readers == [], "the readers to go")
        with pytest.raises(ReaderUnavailableError):
            reader.read()
        transport.set_service(True)
        assert reader.wait_for_card(GUARD_S) is not None

    assert reader.kinds() == ["inserted", "removed", "inserted"]


def test_pulled_mid_read_gives_no_record(cards):
    transport = VirtualTransport()
    with Recorder(transport) as reader:
        transport.insert(virtual_card(cards[0]), fail_after_apdus=5)
        assert reader.wait_for_card(GUARD_S) is not None
        with pytest.raises(CardRemovedError):
            reader.read()
        assert reader.wait_for_removal(GUARD_S)


def test_card_faults_map_to_the_tree(cards):
    transport = VirtualTransport()
    with Recorder(transport) as reader:
        transport.insert(virtual_card(cards[0], has_applet=False))
        assert reader.wait_for_card(GUARD_S) is not None
        with pytest.raises(NotThaiIdCardError):
            reader.read()
        transport.insert(virtual_card(cards[0], bad_sw={"sex": (0x6A, 0x82)}))
        wait_until(lambda: len(reader.events) == 3, "the second card")
        with pytest.raises(CardCommandError, match="sex"):
            reader.read()


def test_settle_delay_holds_the_event_back(cards):
    transport = VirtualTransport()
    transport.insert(virtual_card(cards[0]))
    with Recorder(transport, settle_s=3600) as reader:
        assert reader.wait_for_card(0.3) is None  # seen, but not settled: not announced
        assert not reader.card_present
    assert reader.events == []


def test_a_failing_callback_does_not_stop_the_monitor(cards, caplog):
    transport = VirtualTransport()
    with Recorder(transport) as reader:

        def boom(event: CardEvent) -> None:
            raise RuntimeError("callback bug")

        reader.when_inserted = boom
        transport.insert(virtual_card(cards[0]))
        assert reader.wait_for_card(GUARD_S) is not None
        transport.remove()
        assert reader.wait_for_removal(GUARD_S)
        wait_until(lambda: reader.kinds() == ["removed"], "the removal")
    assert "callback failed" in caplog.text


def monitors() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "card-monitor"]


def test_close_is_safe_twice_and_final(cards):
    reader = ThaiIdCardReader(CardConfig(backend="virtual"))
    assert len(monitors()) == 1
    reader.close()
    reader.close()
    assert reader.closed
    assert monitors() == []
    with pytest.raises(HardwareError):
        reader.read()


def test_backend_from_the_environment(monkeypatch, cards):
    monkeypatch.setenv(env_var("card"), "virtual")
    with ThaiIdCardReader(CardConfig(virtual_card_file=str(cards[2]), settle_s=0)) as reader:
        assert reader.backend == "virtual"
        assert reader.wait_for_card(GUARD_S) is not None
        assert reader.read().citizen_id == load_card_file(cards[2]).fields["citizen_id"]
    monkeypatch.setenv(env_var("card"), "nfc")
    with pytest.raises(HardwareConfigError):
        ThaiIdCardReader()
    assert monitors() == []  # nothing left running


def test_config_validation():
    assert card_config_from_dict({"reader_filter": "Alcor", "settle_s": 0.3}).settle_s == 0.3
    for bad in ({"settle_s": -1}, {"poll_s": 0}, {"colour": "red"}, {"settle_s": "soon"}):
        with pytest.raises(HardwareConfigError):
            card_config_from_dict(bad)


# --- synthetic card files ------------------------------------------------------------------


def test_every_synthetic_card_reads_back_to_its_values(tmp_path):
    transport = VirtualTransport()
    with Recorder(transport) as reader:
        for path in write_card_files(30, tmp_path, seed=99):
            transport.insert(virtual_card(path))
            wait_until(lambda: reader.card_present and reader.events[-1].kind == "inserted", "card")
            values = dataclasses.asdict(reader.read())
            for key in ("date_of_birth", "issue_date", "expiry_date"):
                values[key] = values[key].isoformat() if values[key] else None
            del values["reader"], values["atr"]
            assert values == load_card_file(path).resident
            transport.remove()
            assert reader.wait_for_removal(GUARD_S)


def test_synthetic_photo():
    for resident in residents(10, seed=5):
        jpeg = synthetic_photo(resident)
        assert jpeg[:2] == b"\xff\xd8" and jpeg_length(jpeg) == len(jpeg)
        assert 2_000 < len(jpeg) <= apdu.PHOTO_AREA
        edges = [i * apdu.PHOTO_CHUNK + d for i in range(1, 20) for d in (-1, 0)]
        assert any(e < len(jpeg) and jpeg[e] == 0x20 for e in edges)
        with Image.open(io.BytesIO(jpeg)) as image:
            image.load()
            assert image.size == (144, 176)


def test_cards_cli(tmp_path):
    result = CliRunner().invoke(cli, ["cards", "--count", "2", "--out", str(tmp_path / "out")])
    assert result.exit_code == 0, result.output
    paths = sorted((tmp_path / "out").glob("card-*.json"))
    assert [p.name for p in paths] == ["card-01.json", "card-02.json"]
    assert isinstance(load_card_file(paths[0]), CardFile)


def test_hardware_imports_no_application_code():
    code = (
        "import sys, hardware.card, hardware.card.pcsc, hardware.card.virtual.__main__; "
        "bad = [m for m in sys.modules if m.split('.')[0] in "
        "('flask', 'paho', 'sync_server', 'device', 'provisioning')]; print(bad)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert out.stdout.strip() == "[]"
