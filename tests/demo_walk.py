"""``python -m tests.demo_walk``: the demo as a resident and an operator use it, in Chromium.

Starts ``dcs-demo`` (the whole system on its embedded defaults), then at the second kiosk: the
card holder's bills (the management fee loaded from the building manager's CSV, the simulated
billers' bills), the fee paid by scanning the QR (zbarimg reads the screen, the simulated bank
pays), its receipt rendered; a household plan bought the same way; a check-up booked and
cancelled; an e-ID for the adult in the card holder's care; a notice published from the
dashboard by a first-time operator (forced password change), read on the kiosk's home screen
with the broker frozen (SIGSTOP). Screens and the receipt go to a temporary folder it prints.
Not part of ``make test`` (it needs pcscd to itself for about two minutes).
"""

import json
import os
import re
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from playwright.sync_api import expect, sync_playwright

from tests.emvco_check import check_payload, zbar

REPO = Path(__file__).resolve().parents[1]
WORK = Path(tempfile.mkdtemp(prefix="dcs-demo-walk-"))
ROOT = WORK / "demo"
OUT = WORK / "screens"
OUT.mkdir()
log = (WORK / "demo.log").open("w")
env = {**os.environ, "COLUMNS": "250"}
demo = subprocess.Popen(
    [str(REPO / ".venv/bin/dcs-demo"), "--root", str(ROOT)],
    cwd=REPO,
    stdout=log,
    stderr=subprocess.STDOUT,
    env=env,
    start_new_session=True,
)
t0 = time.time()


def text():
    return (WORK / "demo.log").read_text()


while "Ctrl-C stops everything" not in text():
    assert demo.poll() is None, text()[-3000:]
    assert time.time() - t0 < 600, "demo did not start"
    time.sleep(1)
print(f"demo up in {time.time() - t0:.1f} s")
g = text()
kiosk_b = re.search(r"kiosk st-lobby-b\s*│?\s*(http://127\.0\.0\.1:\d+/)", g).group(1)
web = re.search(r"(http://127\.0\.0\.1:\d+)/login", g).group(1)
ops_password = re.search(r"demo-operations / (\S+)", g).group(1)
broker_pid = int(re.search(r"kill -STOP (\d+)", g).group(1))
bank = (ROOT / "server" / "bank.url").read_text().strip()
db = ROOT / "server" / "dcs.sqlite3"
spool = ROOT / "st-lobby-b" / "printer"


def jobs():
    return sorted(spool.glob("job-*.bin")) if spool.exists() else []


def sms_to(phone):
    with sqlite3.connect(db) as c:
        return [
            r[0] for r in c.execute('select text from sentsms where "to"=? order by id', (phone,))
        ]


def wait(cond, what, s=30):
    end = time.time() + s
    while time.time() < end:
        v = cond()
        if v:
            return v
        time.sleep(0.3)
    raise AssertionError(what)


def pay(page, name):
    expect(page.locator("[data-qr] svg")).to_be_visible(timeout=20000)
    shot = OUT / f"{name}-qr.png"
    page.screenshot(path=shot)
    payload = zbar(shot)
    check_payload(payload)
    req = urllib.request.Request(  # noqa: S310 - the demo bank, http on loopback
        bank,
        data=json.dumps({"payload": payload}).encode(),
        headers={"Content-Type": "application/json"},
    )
    answer = json.loads(urllib.request.urlopen(req, timeout=30).read())  # noqa: S310
    print(name, "bank:", answer)
    expect(page.locator("[data-paid]")).to_be_visible(timeout=30000)
    page.screenshot(path=OUT / f"{name}-paid.png")


try:
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 1280, "height": 800}, has_touch=True)
        page.goto(kiosk_b + "en/")
        expect(page.locator("[data-summary]")).to_be_visible(timeout=30000)
        page.screenshot(path=OUT / "summary.png")
        # 1. bills: at least two, pay the management fee
        page.click("[data-service='bills.start']")
        expect(page.locator("[data-bills]")).to_be_visible(timeout=20000)
        kinds = page.locator("[data-bill]").evaluate_all("els => els.map(e => e.dataset.bill)")
        print("bills:", kinds)
        assert len(kinds) >= 2 and "management" in kinds
        page.screenshot(path=OUT / "bills.png")
        for box in page.locator("[data-bill] input[type=checkbox]").all():
            if box.is_checked():
                box.click()
        page.click("[data-bill=management] input[type=checkbox]")
        before = len(jobs())
        page.click("[data-action=pay]")
        pay(page, "fee")
        wait(lambda: len(jobs()) > before, "the fee's receipt")
        print("fee receipt:", jobs()[-1])
        subprocess.run(
            [
                sys.executable,
                "-m",
                "hardware.printer.render",
                str(jobs()[-1]),
                str(OUT / "fee-receipt.png"),
            ],
            cwd=REPO,
            check=True,
        )
        # 2. a household plan
        page.click("header a[data-action=home]")
        page.click("[data-service='bills.insurance']")
        expect(page.locator("[data-quotes]")).to_be_visible(timeout=20000)
        page.click("[data-plan=basic] [data-action=buy]")
        before = len(jobs())
        pay(page, "plan")
        wait(lambda: len(jobs()) > before, "the plan's receipt")
        # 3. check-up: book and cancel
        page.click("header a[data-action=home]")
        page.click("[data-service='checkup.start']")
        expect(page.locator("[data-slot]").first).to_be_visible(timeout=20000)
        page.locator("[data-slot]").first.click()
        expect(page.locator("[data-booked-when]")).to_be_visible(timeout=20000)
        print("booked:", page.locator("[data-booked-when]").inner_text())
        page.screenshot(path=OUT / "checkup-booked.png")
        page.click("[data-action=my-checkup]")
        page.click("[data-action=cancel-checkup]")
        expect(page.locator("[data-notice=checkup-cancelled]")).to_be_visible(timeout=20000)
        # 4. e-ID for the ward (the guardian first if they have no account)
        page.click("header a[data-action=home]")

        def register(phone, pw):
            page.fill("input[name=phone]", phone)
            page.click("#screen button[type=submit]")
            seen = len(sms_to(phone))
            code = wait(
                lambda: (
                    len(sms_to(phone)) > seen - 1
                    and re.search(r"\b(\d{6})\b", (sms_to(phone) or [""])[-1])
                ),
                "code",
            ).group(1)
            page.fill("input[name=code]", code)
            page.fill("input[name=password]", pw)
            page.fill("input[name=password_again]", pw)
            page.click("#screen button[type=submit]")
            expect(page.locator("[data-eid-done]")).to_be_visible(timeout=20000)

        page.click("[data-service='eid.start']")
        page.click("[data-for=ward]")
        if page.locator("[data-error=guardian_not_registered]").count():
            print("guardian has no account: registering the guardian first")
            page.click("header a[data-action=home]")
            page.click("[data-service='eid.start']")
            page.click("[data-for=me]")
            register("0861110001", "Guardian-Demo-2026")
            page.click("header a[data-action=home]")
            page.click("[data-service='eid.start']")
            page.click("[data-for=ward]")
        ward = page.locator("button[name=ward]").first
        expect(ward).to_be_visible(timeout=10000)
        print("ward:", ward.inner_text().replace("\n", " | "))
        page.screenshot(path=OUT / "wards.png")
        ward.click()
        register("0861110002", "Ward-Demo-2026x")
        page.screenshot(path=OUT / "ward-done.png")
        # 5. a notice from the dashboard, read while the broker is frozen
        ops = browser.new_page(viewport={"width": 1280, "height": 900})
        ops.goto(web + "/login?lang=en")
        ops.fill("input[name=username]", "demo-operations")
        ops.fill("input[name=password]", ops_password)
        with ops.expect_navigation():
            ops.click("form button[type=submit]")
        print("after login:", ops.url)
        ops.screenshot(path=OUT / "ops-after-login.png")
        if ops.locator("input[name=new_password]").count():
            ops.fill("#current_password", ops_password)
            ops.fill("#new_password", "Ops-Demo-Password-2026")
            ops.fill("#confirm_password", "Ops-Demo-Password-2026")
            with ops.expect_navigation():
                ops.click("section.panel form button[type=submit]")
            print("after change:", ops.url)
            if "/login" in ops.url:  # a new password: sign in again with it
                ops.fill("input[name=username]", "demo-operations")
                ops.fill("input[name=password]", "Ops-Demo-Password-2026")
                with ops.expect_navigation():
                    ops.click("form button[type=submit]")
        ops.goto(web + "/dashboard/notices?lang=en")
        print("notices page:", ops.url)
        ops.screenshot(path=OUT / "ops-notices.png")
        from datetime import datetime, timedelta
        from zoneinfo import ZoneInfo

        ends = (datetime.now(ZoneInfo("Asia/Bangkok")) + timedelta(hours=3)).strftime(
            "%Y-%m-%dT%H:%M"
        )
        ops.fill("#ends_at", ends)
        for lang, title in (
            ("th", "ปิดน้ำชั่วคราว"),
            ("vi", "Tạm ngừng cấp nước"),
            ("en", "Water off 9-12"),
        ):
            ops.fill(f"#title_{lang}", title)
        ops.click("#notice-form button[type=submit]")
        ops.wait_for_load_state()
        row = ops.locator("tr[data-notice]").first
        print(
            "notice state:",
            row.get_attribute("data-state"),
            "|",
            row.inner_text().replace("\n", " "),
        )
        ops.screenshot(path=OUT / "dashboard-notice.png")
        # The resident is done: the card comes out and the home screen shows the notices.
        subprocess.run(
            [
                str(REPO / ".venv/bin/dcs-demo"),
                "card",
                "pull",
                "--station",
                "st-lobby-b",
                "--root",
                str(ROOT),
            ],
            cwd=REPO,
            check=True,
        )
        expect(page.locator("body")).to_have_attribute("data-page", "home", timeout=20000)
        expect(page.locator("body")).to_contain_text("ปิดน้ำชั่วคราว", timeout=20000)
        os.kill(broker_pid, signal.SIGSTOP)
        try:
            time.sleep(3)
            page.goto(kiosk_b + "en/")
            expect(page.locator("body")).to_contain_text("Water off 9-12", timeout=20000)
            page.screenshot(path=OUT / "notice-broker-frozen.png")
            print("notice shown with the broker frozen")
        finally:
            os.kill(broker_pid, signal.SIGCONT)
        browser.close()
    print(f"walk passed; screens and receipt in {OUT}")
finally:
    os.killpg(demo.pid, signal.SIGINT)
    try:
        demo.wait(60)
    except subprocess.TimeoutExpired:
        os.killpg(demo.pid, signal.SIGKILL)
