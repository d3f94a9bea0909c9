"""The public tracking pages through Flask's test client: CSRF, the flow, no enumeration, limits."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from flask import Flask
from flask.testing import FlaskClient

from sync_server import create_app
from sync_server.db import database
from sync_server.sms.models import SentSms
from tests.petition_fixtures import PHONE, file_petitions

CITIZEN_ID = "0123456789012"
SUBJECT = "ขอแก้ไขชื่อสกุลสะกดผิด"


@pytest.fixture
def app(sqlite_url: str) -> Iterator[Flask]:
    app = create_app(
        {"TESTING": True, "SECRET_KEY": "tracking-pages-secret", "DATABASE_URL": sqlite_url}
    )
    # No app context held here: Flask-WTF caches the CSRF token in ``g``, which would then
    # be shared by every request and client of the test.
    database.connect(reuse_if_open=True)
    yield app
    database.close()


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


def csrf(page_html: str) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', page_html).group(1)


def ask_code(client: FlaskClient, number: str, phone: str, ip: str = "192.0.2.1"):
    token = csrf(client.get("/track").text)
    return client.post(
        "/track",
        data={"csrf_token": token, "number": number, "phone": phone},
        environ_base={"REMOTE_ADDR": ip},
    )


def send_code(client: FlaskClient, code: str, ip: str = "192.0.2.1"):
    token = csrf(client.get("/track/code").text)
    return client.post(
        "/track/code", data={"csrf_token": token, "code": code}, environ_base={"REMOTE_ADDR": ip}
    )


def latest_code() -> str:
    row = SentSms.select().order_by(SentSms.id.desc()).get()
    return re.search(r"\b(\d{6})\b", row.text).group(1)


def test_the_receipt_link_prefills_the_number_in_the_default_language(client):
    page = client.get("/track?number=P-ST-A-0000001-X")
    assert page.status_code == 200
    assert 'value="P-ST-A-0000001-X"' in page.text
    assert '<html lang="th">' in page.text
    assert "เลขที่คำร้อง" in page.text and "หมายเลขโทรศัพท์มือถือ" in page.text
    assert "Mobile number" not in page.text
    assert page.headers["Cache-Control"] == "no-store"


def test_forms_refuse_a_post_without_the_csrf_token(client):
    response = client.post("/track", data={"number": "P-ST-A-0000001-X", "phone": PHONE})
    assert response.status_code == 400
    assert SentSms.select().count() == 0


def test_number_and_phone_then_code_show_the_history_and_nothing_else(client):
    (number,) = file_petitions(
        "st-a", 1, service="population_correction", citizen_id=CITIZEN_ID, form={"s": SUBJECT}
    )
    response = ask_code(client, number.lower(), "081 234 5678")
    assert (response.status_code, response.headers["Location"]) == (303, "/track/code")
    code_page = client.get("/track/code")
    assert "081-XXX-5678" in code_page.text and PHONE not in code_page.text

    response = send_code(client, latest_code())
    assert (response.status_code, response.headers["Location"]) == (303, "/track/status")
    status = client.get("/track/status")
    assert status.status_code == 200
    assert number in status.text
    assert "ได้รับคำร้องแล้ว" in status.text
    for secret in (PHONE, CITIZEN_ID, SUBJECT, "st-a", "population_correction"):
        assert secret not in status.text

    client.post("/track/done", data={"csrf_token": csrf(status.text)})
    assert client.get("/track/status").status_code == 303  # the grant is gone


def test_a_wrong_pair_gets_the_same_pages_as_a_right_one(client, app):
    right, _ = file_petitions("st-a", 2)
    unknown = right.replace("0000001", "0000003")[:-1] + "Q"
    pages = {}
    for number in (right, unknown):
        other = app.test_client()
        response = ask_code(other, number, PHONE)
        page = other.get("/track/code").text
        wrong = send_code(other, "000000" if latest_code() != "000000" else "111111")
        pages[number] = (
            response.status_code,
            response.headers["Location"],
            re.sub(r'value="[^"]+"', "", page).replace(number, "N"),
            wrong.status_code,
            re.sub(r'value="[^"]+"', "", wrong.text).replace(number, "N"),
        )
    assert pages[right] == pages[unknown]
    assert SentSms.select().count() == 1  # only the right pair's code went out


def test_wrong_codes_count_down_then_burn(client):
    (number,) = file_petitions("st-a", 1)
    ask_code(client, number, PHONE)
    right = latest_code()
    wrong = f"{(int(right) + 1) % 1_000_000:06d}"
    first = send_code(client, wrong)
    assert first.status_code == 400 and "ใส่ได้อีก 2 ครั้ง" in first.text
    client.set_cookie("dcs-lang", "en")
    assert "1 try left" in send_code(client, wrong).text
    third = send_code(client, wrong)
    assert third.status_code == 400 and "Too many wrong codes" in third.text
    assert f'value="{number}"' in third.text  # back at the start, the number kept
    assert client.get("/track/code").status_code == 303  # the burnt ticket is forgotten


def test_too_many_requests_for_one_number_get_429(client):
    (number,) = file_petitions("st-a", 1)
    for ip in ("192.0.2.1", "192.0.2.2", "192.0.2.3"):
        assert ask_code(client, number, PHONE, ip=ip).status_code == 303
    limited = ask_code(client, number, PHONE, ip="192.0.2.4")
    assert limited.status_code == 429 and "15 นาที" in limited.text
    client.set_cookie("dcs-lang", "en")
    limited = ask_code(client, number, PHONE, ip="192.0.2.4")
    assert limited.status_code == 429 and "15 minutes" in limited.text
    assert SentSms.select().count() == 3


def test_badly_formed_input_is_pointed_out(client):
    response = ask_code(client, "P-12", PHONE)
    assert response.status_code == 400 and 'id="number-error"' in response.text
    response = ask_code(client, "P-ST-A-0000001-X", "08-1234")
    assert response.status_code == 400 and 'id="phone-error"' in response.text


def test_status_without_a_verified_code_goes_back_to_the_start(client):
    assert client.get("/track/status").headers["Location"] == "/track"
    assert client.get("/track/code").headers["Location"] == "/track"


#: What each language's pages and code SMS say: start title, code SMS, first status.
IN_EACH_LANGUAGE = {
    "th": ("ติดตามสถานะคำร้อง", "รหัส OTP ติดตามคำร้อง", "ได้รับคำร้องแล้ว"),
    "vi": ("Theo dõi đơn của bạn", "Mã theo dõi đơn", "Đã tiếp nhận"),
    "en": ("Track your petition", "Tracking code", "Received"),
}


@pytest.mark.parametrize("lang", sorted(IN_EACH_LANGUAGE))
def test_the_whole_flow_in_each_language_and_the_code_sms_too(client, lang):
    title, sms, received = IN_EACH_LANGUAGE[lang]
    (number,) = file_petitions("st-a", 1)
    start = client.get(f"/track?lang={lang}&number={number}")
    assert f'<html lang="{lang}">' in start.text and f"<h1>{title}</h1>" in start.text
    assert f"dcs-lang={lang}" in start.headers["Set-Cookie"]  # remembered for the next pages
    assert "Accept-Language" in start.headers["Vary"]
    link = r'<a href="([^"]+)" lang="(\w+)" hreflang="\w+"( aria-current)?'
    switch = re.findall(link, start.text)
    assert [(code, bool(current)) for _, code, current in switch] == [
        ("th", lang == "th"),
        ("vi", lang == "vi"),
        ("en", lang == "en"),
    ]
    assert all(f"number={number}" in href for href, _, _ in switch)  # the same page

    ask_code(client, number, PHONE)
    assert SentSms.get().text.startswith(sms)
    code_page = client.get("/track/code")
    assert f'<html lang="{lang}">' in code_page.text and "081-XXX-5678" in code_page.text
    send_code(client, latest_code())
    status = client.get("/track/status")
    assert f'<html lang="{lang}">' in status.text and received in status.text


def test_the_language_comes_from_the_query_then_the_cookie_then_the_browser(client, app):
    def lang_of(response) -> str:
        return re.search(r'<html lang="(\w+)">', response.text).group(1)

    assert lang_of(client.get("/track", headers={"Accept-Language": "vi-VN,vi;q=0.9"})) == "vi"
    assert lang_of(client.get("/track", headers={"Accept-Language": "fr, en;q=0.5"})) == "en"
    assert lang_of(client.get("/track", headers={"Accept-Language": "fr"})) == "th"
    assert lang_of(client.get("/track?lang=xx")) == "th"  # not ours: ignored
    client.get("/track?lang=en")
    assert lang_of(client.get("/track", headers={"Accept-Language": "vi"})) == "en"
    assert lang_of(client.get("/track?lang=vi")) == "vi"

    app.config["DEFAULT_LANGUAGE"] = "en"
    assert lang_of(app.test_client().get("/track")) == "en"
