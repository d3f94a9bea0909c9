"""The kiosk's catalogues and what may never be printed, without a browser."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path

import pytest

from device.kiosk.i18n import LANGUAGES, TRANSLATIONS, catalogue_keys, compile_catalogues
from device.kiosk.views.common import ERROR_KEYS, KNOWN_CODES
from device.kiosk.views.home import UTILITIES
from device.receipts import ReceiptSpool, StationReceipt
from device.store import create_key_file, open_store
from hardware.exc import ReceiptContentError
from hardware.printer import Receipt, ReceiptLine

KIOSK = Path(__file__).resolve().parents[1] / "device" / "kiosk"
_LITERAL = re.compile(r"""_\(\s*["']([a-z0-9_.]+)["']\s*[),]""")


def used_keys() -> set[str]:
    """Every key a template or view names literally, plus the families built from codes."""
    keys: set[str] = set()
    for path in [*KIOSK.glob("templates/**/*.html"), *KIOSK.glob("views/*.py")]:
        keys.update(_LITERAL.findall(path.read_text("utf-8")))
    keys.update(KNOWN_CODES | ERROR_KEYS | {"error.unknown"})
    keys.update(f"utility.{name}" for name in UTILITIES)
    return keys


def test_every_language_has_every_key_and_no_empty_text():
    catalogues = {lang: catalogue_keys(lang) for lang in LANGUAGES}
    keys = set(catalogues["th"])
    for lang, texts in catalogues.items():
        assert set(texts) == keys, lang
        assert [key for key, text in texts.items() if not text.strip()] == [], lang


def test_every_key_the_screens_use_is_in_the_catalogue():
    missing = used_keys() - set(catalogue_keys("th"))
    assert missing == set()


def test_placeholders_match_across_languages():
    catalogues = {lang: catalogue_keys(lang) for lang in LANGUAGES}
    for key, thai in catalogues["th"].items():
        wanted = set(re.findall(r"%\((\w+)\)s", thai))
        for lang in ("vi", "en"):
            assert set(re.findall(r"%\((\w+)\)s", catalogues[lang][key])) == wanted, (lang, key)


def test_catalogues_compile_to_mo_files(tmp_path):
    target = compile_catalogues(TRANSLATIONS, tmp_path)
    for lang in LANGUAGES:
        assert (target / lang / "LC_MESSAGES" / "messages.mo").stat().st_size > 1000


def test_old_age_savings_and_passwords_never_reach_the_printer_api(tmp_path):
    create_key_file(tmp_path / "store.key")
    store = open_store(tmp_path / "store.sqlite3", tmp_path / "store.key", "st-a")
    try:
        spool = ReceiptSpool(store)
        now = datetime.now(UTC)
        savings = Receipt(title="Insured person", issued_at=now)
        for kind in ("insured.old_age", "insured.savings", "password.reset"):
            with pytest.raises(ReceiptContentError):
                spool.queue(kind, savings)
        with pytest.raises(ReceiptContentError):
            Receipt(
                title="Statement",
                issued_at=now,
                lines=(ReceiptLine("old_age_savings", "Old-age savings", "1,000.00"),),
            )
        with pytest.raises(ReceiptContentError):
            Receipt(title="เงินออมชราภาพ", issued_at=now)
        with pytest.raises(ReceiptContentError):
            StationReceipt(kind="insured.old_age", content=savings)
        assert spool.counts() == {"queued": 0, "printed": 0, "failed": 0}
    finally:
        store.close()
