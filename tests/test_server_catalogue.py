"""The server's catalogues against what its code and templates use, without a browser.

Babel's extractor finds every msgid (``_``, ``gettext``, ``ngettext``, ``N_``, ``lazy_gettext``,
``sms_text``); citizen-facing ones must be translated in th, vi and en, staff ones in th and en
(Vietnamese staff pages fall back to the English msgids).
"""

from __future__ import annotations

import re
from fnmatch import fnmatch
from pathlib import Path

import pytest
from babel.messages.catalog import Catalog
from babel.messages.extract import DEFAULT_KEYWORDS, extract_from_dir
from babel.messages.pofile import read_po

from sync_server.i18n import LANGUAGES, STAFF_LANGUAGES, TRANSLATIONS, compile_catalogues, sms_text
from sync_server.sms.texts import PETITION_RECEIVED

SERVER = Path(__file__).resolve().parents[1] / "sync_server"
#: What citizens read: the tracking page, the SMS, status and service names, the switch.
CITIZEN_SOURCES = (
    "tracking/*",
    "sms/texts.py",
    "checkups/texts.py",
    "otp.py",
    "backoffice/labels.py",
    "backoffice/notify.py",
    "templates/_language_switch.html",
)
KEYWORDS = {
    **DEFAULT_KEYWORDS,
    "lazy_gettext": None,
    "lazy_ngettext": (1, 2),
    "sms_text": None,
    "translate": None,
}
METHODS = [("**/templates/**.html", "jinja2.ext:babel_extract"), ("**.py", "python")]
PLACEHOLDER = re.compile(r"%\((\w+)\)[sd]")
TAG = re.compile(r"</?[a-z]+")

MsgId = str | tuple[str, str]


def used_msgids() -> tuple[set[MsgId], set[MsgId]]:
    """(citizen-facing, staff-only) msgids, as Babel's extractor finds them in the server."""
    citizen: set[MsgId] = set()
    staff: set[MsgId] = set()
    for filename, _line, message, _comments, _context in extract_from_dir(
        SERVER, method_map=METHODS, keywords=KEYWORDS
    ):
        msgid = message if isinstance(message, str) else tuple(message[:2])
        if any(fnmatch(filename, pattern) for pattern in CITIZEN_SOURCES):
            citizen.add(msgid)
        else:
            staff.add(msgid)
    return citizen, staff - citizen


def catalogue(lang: str) -> Catalog:
    with (TRANSLATIONS / lang / "LC_MESSAGES" / "messages.po").open("rb") as handle:
        return read_po(handle, locale=lang)


def entries(lang: str) -> dict[MsgId, tuple[str, ...]]:
    """Every entry of one language: msgid → its text(s), checked neither fuzzy nor empty."""
    found: dict[MsgId, tuple[str, ...]] = {}
    for message in catalogue(lang):
        if not message.id:
            continue
        assert not message.fuzzy, (lang, message.id)
        texts = message.string if isinstance(message.string, tuple) else (message.string,)
        assert all(text.strip() for text in texts), (lang, message.id)
        found[message.id if isinstance(message.id, str) else tuple(message.id)] = texts
    return found


@pytest.fixture(scope="module")
def msgids() -> tuple[set[MsgId], set[MsgId]]:
    return used_msgids()


def test_the_extractor_finds_the_citizen_texts(msgids):
    citizen, _ = msgids
    assert PETITION_RECEIVED in citizen and "Track your petition" in citizen
    assert ("Wrong code. %(num)d try left.", "Wrong code. %(num)d tries left.") in citizen


@pytest.mark.parametrize("lang", LANGUAGES)
def test_every_citizen_text_is_translated_in_every_language(msgids, lang):
    citizen, _ = msgids
    assert citizen - set(entries(lang)) == set()


@pytest.mark.parametrize("lang", STAFF_LANGUAGES)
def test_every_staff_text_is_translated_in_thai_and_english(msgids, lang):
    _, staff = msgids
    assert staff - set(entries(lang)) == set()


@pytest.mark.parametrize("lang", LANGUAGES)
def test_the_catalogues_hold_nothing_the_code_no_longer_uses(msgids, lang):
    citizen, staff = msgids
    assert set(entries(lang)) - citizen - staff == set()


@pytest.mark.parametrize("lang", LANGUAGES)
def test_placeholders_and_markup_match_the_msgid(lang):
    for msgid, texts in entries(lang).items():
        ids = (msgid,) if isinstance(msgid, str) else msgid
        wanted = set(PLACEHOLDER.findall(ids[-1]))
        assert {name for i in ids for name in PLACEHOLDER.findall(i)} == wanted, msgid
        for text in texts:
            assert set(PLACEHOLDER.findall(text)) == wanted, (lang, msgid, text)
            assert sorted(TAG.findall(text)) == sorted(TAG.findall(ids[0])), (lang, msgid)
            text % dict.fromkeys(wanted, 1)  # no stray "%" that would break formatting


def test_english_repeats_its_msgids():
    for msgid, texts in entries("en").items():
        assert texts == ((msgid,) if isinstance(msgid, str) else msgid)


def test_catalogues_compile_and_the_filing_sms_reads_in_each_language(tmp_path):
    target = compile_catalogues(TRANSLATIONS, tmp_path)
    for lang in LANGUAGES:
        assert (target / lang / "LC_MESSAGES" / "messages.mo").stat().st_size > 1000
    link = "https://dcs.example.invalid/track?number=P-ST-A-0000001-X"
    values = {"number": "P-ST-A-0000001-X", "link": link}
    assert sms_text(PETITION_RECEIVED, "th", **values) == (
        f"ได้รับคำร้องเลขที่ P-ST-A-0000001-X ของท่านแล้ว ติดตามสถานะได้ที่ {link}"
    )
    assert sms_text(PETITION_RECEIVED, "vi", **values) == (
        f"Đơn số P-ST-A-0000001-X của bạn đã được tiếp nhận. Theo dõi tại: {link}"
    )
    assert sms_text(PETITION_RECEIVED, "en", **values) == (
        f"Your petition P-ST-A-0000001-X was received. Track it: {link}"
    )
    default = sms_text(PETITION_RECEIVED, None, **values)
    assert default == sms_text(PETITION_RECEIVED, "th", **values)
