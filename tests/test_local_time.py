"""Times and shared words as people read them (contract/local_time.py, contract/vocabulary.py):
one helper for the station and the server, the deployment's zone and calendar, one word per
petition status in each language. The screens are in tests/test_local_time_screens.py."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta, timezone

import msgspec
import pytest

from contract.local_time import (
    THAILAND,
    VIETNAM,
    LocalTime,
    format_day,
    format_moment,
    parse_day,
    to_local,
    year_text,
)
from contract.vocabulary import FAMILIES, LANGUAGES, hospital_name, status_word, words
from device.config import StationConfig
from device.kiosk.i18n import catalogue_keys
from devtools.synthetic import HOSPITALS
from sync_server import ServerConfigError, create_app
from sync_server.db import database
from sync_server.petitions.labels import status_text
from sync_server.petitions.notify import _status_text as status_sms
from sync_server.petitions.service import TRANSITIONS
from tests.operator_fixtures import create_test_operator, log_in
from tests.test_dashboard import put_station

#: The issue's petition: filed at 20:57 in Bangkok, which is 13:57 UTC.
FILED = datetime(2026, 11, 24, 13, 57, tzinfo=UTC)


@pytest.mark.parametrize(
    ("local", "language", "text"),
    [
        (THAILAND, "th", "24 พ.ย. 2569 20:57 น."),
        (THAILAND, "en", "24 Nov 2569 BE, 20:57"),  # the era said: an English reader counts CE
        (THAILAND, "vi", "24/11/2569 PL 20:57"),
        (VIETNAM, "vi", "24/11/2026 20:57"),
        (VIETNAM, "en", "24 Nov 2026, 20:57"),
        (VIETNAM, "th", "24 พ.ย. 2026 ค.ศ. 20:57 น."),  # a Thai reader counts BE
    ],
)
def test_a_utc_instant_reads_in_the_deployments_zone_and_calendar(local, language, text):
    assert format_moment(FILED, local, language) == text


def test_the_buddhist_year_turns_with_the_local_new_year_not_utcs():
    eve = datetime(2026, 12, 31, 17, 30, tzinfo=UTC)  # 00:30 on 1 January 2027 in Bangkok
    assert format_moment(eve, THAILAND, "th") == "1 ม.ค. 2570 00:30 น."
    assert format_day(eve, THAILAND, "th") == "01-01-2570"
    assert format_moment(eve, VIETNAM, "vi") == "01/01/2027 00:30"
    assert year_text(2026, THAILAND, "th") == "2569" and year_text(2026, VIETNAM, "vi") == "2026"


@pytest.mark.parametrize("local", [THAILAND, VIETNAM])
def test_both_zones_keep_utc_plus_7_all_year(local):
    """No daylight saving: the same offset in January and July, and any zone of the moment."""
    for month in (1, 4, 7, 10):
        moment = datetime(2026, month, 15, 12, tzinfo=UTC)
        assert to_local(moment, local).utcoffset() == timedelta(hours=7)
        elsewhere = moment.astimezone(timezone(timedelta(hours=-5)))
        assert format_moment(elsewhere, local, "en") == format_moment(moment, local, "en")


def test_a_naive_datetime_is_refused():
    naive = datetime(2026, 11, 24, 13, 57)
    for call in (
        lambda: format_moment(naive, THAILAND, "th"),
        lambda: format_day(naive, THAILAND, "th"),
        lambda: to_local(naive, VIETNAM),
    ):
        with pytest.raises(ValueError, match="without a zone"):
            call()


def test_a_calendar_day_is_dd_mm_yyyy_in_the_deployments_calendar():
    born = date(1987, 3, 1)
    assert format_day(born, THAILAND, "th") == "01-03-2530"
    assert format_day(born, THAILAND, "en") == "01-03-2530 BE"
    assert format_day(born, VIETNAM, "vi") == "01-03-1987"


def test_a_typed_day_is_understood_in_either_era():
    assert parse_day("01-03-2530") == parse_day("1/3/1987") == date(1987, 3, 1)
    assert parse_day(" 29.02.2567 ") == date(2024, 2, 29)
    for bad in ("1987-03-01", "31-02-2530", "01-13-1987", "", "01-03-87"):
        with pytest.raises(ValueError):
            parse_day(bad)


def test_the_deployment_comes_from_config_on_both_sides(tmp_path):
    assert msgspec.convert({}, LocalTime) == THAILAND
    with pytest.raises(msgspec.ValidationError, match="unknown time zone"):
        msgspec.convert({"timezone": "Mars/Olympus"}, LocalTime)
    with pytest.raises(msgspec.ValidationError):
        msgspec.convert({"calendar": "julian"}, LocalTime)
    station = msgspec.convert(
        {
            "station_id": "st-a",
            "data_dir": str(tmp_path),
            "secrets_dir": str(tmp_path),
            "local_time": {"timezone": "Asia/Ho_Chi_Minh", "calendar": "gregorian"},
        },
        StationConfig,
    )
    assert station.local_time == VIETNAM
    with pytest.raises(ServerConfigError, match="TIMEZONE"):
        create_app(
            {
                "TESTING": True,
                "SECRET_KEY": "local-time-test-secret-0123456789abcdef",
                "DATABASE_URL": f"sqlite:///{tmp_path / 'x.sqlite3'}",
                "TIMEZONE": "Asia/Nowhere",
            },
            check_schema=False,
        )


# --- one vocabulary ------------------------------------------------------------------------


def test_the_shared_catalogue_has_every_word_in_every_language():
    keys = set(words("th"))
    assert {family for family, _ in keys} == set(FAMILIES)
    for language in LANGUAGES:
        assert set(words(language)) == keys, language
        assert all(text.strip() for text in words(language).values()), language
    assert {key for family, key in keys if family == "petition status"} == set(TRANSITIONS)


@pytest.mark.parametrize("language", LANGUAGES)
def test_a_status_is_one_word_on_the_kiosk_the_slip_the_web_and_the_sms(language):
    from device.kiosk.receipts import status_words

    for status in TRANSITIONS:
        word = status_word(status, language)
        assert status_text(status, language) == word  # tracking page, back office
        assert f"{status_word(status, 'th')} / {status_word(status, 'en')}" == status_words(status)
        config = {"TRACKING_URL": "https://t.invalid/{number}"}
        sms = status_sms({"number": "P-1", "status": status}, language, config)  # the SMS
        assert f": {word}" in sms, sms
    # The kiosk's catalogue no longer has words of its own for them.
    assert not [key for key in catalogue_keys(language) if key.startswith("status.received")]
    assert status_word("received", "th") == "ได้รับคำร้องแล้ว"


def test_every_synthetic_hospital_has_its_name_in_vietnamese_and_english():
    for official in HOSPITALS:
        assert hospital_name(official, "th") == official
        for language in ("vi", "en"):
            translated = hospital_name(official, language)
            assert translated and not re.search(r"[\u0e00-\u0e7f]", translated), official
    assert hospital_name("โรงพยาบาลที่ไม่มีในรายการ", "en") is None


# --- the server's pages ---------------------------------------------------------------------


@pytest.fixture
def app(database_url: str):
    app = create_app(
        {
            "TESTING": True,
            "SECRET_KEY": "local-time-test-secret-0123456789abcdef",
            "DATABASE_URL": database_url,
        }
    )
    yield app
    database.close()


def test_the_dashboard_shows_heartbeats_in_bangkok_time_never_utc(app):
    put_station("st-a", presence="online", last_heartbeat_at=FILED)
    client = app.test_client()
    log_in(client, *create_test_operator("operations"))
    fleet = client.get("/dashboard/?lang=th").text
    station = client.get("/dashboard/stations/st-a?lang=en").text
    assert "24 พ.ย. 2569 20:57 น." in fleet and "24 Nov 2569 BE, 20:57" in station
    assert "UTC" not in fleet and "UTC" not in station and "13:57" not in fleet + station


def test_a_vietnamese_server_writes_gregorian_years(database_url):
    app = create_app(
        {
            "TESTING": True,
            "SECRET_KEY": "local-time-test-secret-0123456789abcdef",
            "DATABASE_URL": database_url,
            "TIMEZONE": "Asia/Ho_Chi_Minh",
            "CALENDAR": "gregorian",
        }
    )
    try:
        put_station("st-a", presence="online", last_heartbeat_at=FILED)
        client = app.test_client()
        log_in(client, *create_test_operator("operations"))
        assert "24/11/2026 20:57" in client.get("/dashboard/?lang=vi").text
        assert "24 พ.ย. 2026 ค.ศ. 20:57 น." in client.get("/dashboard/?lang=th").text
    finally:
        database.close()
