"""A kiosk screen that fails, or an address that does not exist, is a screen in the kiosk's
language with a way home, never the framework's bare English page."""

from __future__ import annotations

import pytest

from device.kiosk import create_kiosk_app


@pytest.fixture
def client(station_factory):
    app = create_kiosk_app(station_factory("st-a", start=False))

    @app.get("/<lang>/boom")
    def boom() -> str:
        raise RuntimeError("a bug in a screen")

    return app.test_client()


@pytest.mark.parametrize(
    ("lang", "title"),
    [
        ("th", "ไม่พบหน้าที่ต้องการ"),
        ("vi", "Không tìm thấy trang này"),
        ("en", "This page does not exist"),
    ],
)
def test_a_missing_page_is_a_translated_screen_with_a_way_home(client, lang, title):
    answer = client.get(f"/{lang}/no-such-screen", headers={"Host": "127.0.0.1"})
    page = answer.get_data(as_text=True)
    assert answer.status_code == 404
    assert title in page
    assert f'href="/{lang}/"' in page  # the way home, in the same language
    assert "Not Found" not in page


def test_a_failing_screen_is_logged_and_shows_the_broken_screen(client, caplog):
    answer = client.get("/vi/boom", headers={"Host": "127.0.0.1"})
    page = answer.get_data(as_text=True)
    assert answer.status_code == 500
    assert "Xin lỗi, hệ thống đang gặp sự cố tạm thời" in page
    assert 'href="/vi/"' in page
    assert "Internal Server Error" not in page
    assert any("kiosk screen failed: RuntimeError" in r.getMessage() for r in caplog.records)


def test_an_address_without_a_language_falls_back_to_the_kiosks(client):
    answer = client.get("/favicon.ico/", headers={"Host": "127.0.0.1"})
    assert answer.status_code == 404
    assert "ไม่พบหน้าที่ต้องการ" in answer.get_data(as_text=True)  # the default language: th
