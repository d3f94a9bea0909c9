"""``make screens``: a screenshot of every kiosk screen into docs/screens/ (1280x800).

Runs the same stack as the kiosk tests (real card through pcscd, Chromium) and walks every
flow once, saving ``NN-name.png``. Synthetic residents only.
"""

from __future__ import annotations

import re
import shutil
import tempfile
from pathlib import Path

from playwright.sync_api import Page

from devtools.cardstack import LocalPcscd
from sync_server.sms.models import SentSms
from tests.kiosk_browser import KioskStack, chromium, open_page, wait_for

OUT = Path(__file__).resolve().parents[1] / "docs" / "screens"


def _code(phone: str) -> str:
    rows = wait_for(
        lambda: list(SentSms.select().where(SentSms.to == phone).order_by(SentSms.id.desc())),
        "an SMS",
    )
    return re.search(r"\b(\d{6})\b", rows[0].text).group(1)


class Shooter:
    """Saves numbered screenshots."""

    def __init__(self, page: Page) -> None:
        self.page = page
        self.count = 0

    def __call__(self, name: str) -> None:
        self.count += 1
        self.page.wait_for_function("() => window.kioskPaintedAt")
        self.page.screenshot(path=OUT / f"{self.count:02d}-{name}.png")


def main() -> None:
    """Walk the flows and save the screenshots."""
    from sync_server.records.models import InsuranceAccount

    OUT.mkdir(parents=True, exist_ok=True)
    # Only this walk's own pictures (numbered, and the counter's): the server pages and the
    # helpers' pictures of other screens stay.
    for old in [*OUT.glob("[0-9][0-9]-*.png"), *OUT.glob("counter-*.png")]:
        old.unlink()
    workdir = Path(tempfile.mkdtemp(prefix="dcs-screens-"))
    pcscd = LocalPcscd(workdir=workdir / "pcscd")
    stack = KioskStack(workdir, pcscd)
    try:
        pcscd.start()
        stack.start()
        with chromium() as (_, browser):
            page = open_page(browser, stack.url)
            shot = Shooter(page)
            shot("home-th")
            stack.insert(0)
            page.goto(stack.url + "th/")
            page.wait_for_selector("dl[data-summary]")
            shot("summary-th")
            for screen in ("hospital", "contributions", "benefits", "old_age"):
                page.goto(stack.url + f"vi/insured/{screen}")
                shot(f"{screen}-vi")
            page.goto(stack.url + "en/display/large?next=/en/insured/")
            shot("summary-en-large-text")
            page.goto(stack.url + "en/display/normal?next=/en/password/")
            shot("password-start-en")
            account = InsuranceAccount.get(InsuranceAccount.citizen == stack.resident(0).citizen_id)
            page.fill("input[name=insurance_number]", account.insurance_number)
            page.fill("input[name=phone]", "0800000000")
            page.click("#screen button[type=submit]")
            shot("password-no-match-en")
            page.fill("input[name=insurance_number]", account.insurance_number)
            page.fill("input[name=phone]", account.phone)
            page.click("#screen button[type=submit]")
            page.fill("input[name=code]", _code(account.phone))
            page.click("#screen button[type=submit]")
            page.click("[data-read-aloud]")
            page.wait_for_selector("[data-read-aloud-status][data-state=done]", timeout=60_000)
            shot("password-temporary-en")  # after "read aloud": its "finished" state
            page.goto(stack.url + "th/eid/")
            shot("eid-confirm-th")
            page.click("[data-for=me]")
            page.fill("input[name=phone]", "0861234567")
            page.click("#screen button[type=submit]")
            page.fill("input[name=code]", _code("0861234567"))
            page.focus("input[name=password]")
            page.fill("input[name=password]", "Lobby-Station-42")
            page.click("[data-action=done]")
            page.evaluate("document.getElementById('screen').scrollTo(0, 0)")
            shot("eid-code-password-th")  # the rules ticked off, the meter with its label
            page.fill("input[name=password_again]", "Lobby-Station-42")
            page.click("[data-action=done]") if page.locator("#osk:visible").count() else None
            page.click("#screen button[type=submit]")
            shot("eid-done-th")
            page.goto(stack.url + "th/petition/")
            shot("petition-services-th")
            page.click("[data-choice=general_petition]")
            page.fill("input[name=phone]", "0812345678")
            page.click("#screen button[type=submit]")
            shot("petition-code-th")
            page.fill("input[name=code]", _code("0812345678"))
            page.click("#screen button[type=submit]")
            page.fill("input[name=subject]", "ไฟทางเดินชั้น 3 ดับ")
            page.fill("textarea[name=details]", "ขอให้ซ่อมไฟทางเดินหน้าลิฟต์")
            shot("petition-form-th")
            page.click("#screen button[type=submit]")
            shot("petition-done-th")
            page.goto(stack.url + "th/track/mine")
            wait_for(lambda: stack.station.store.outbox.backlog().pending == 0, "the petition")
            page.goto(stack.url + "th/track/mine")
            shot("my-petitions-th")
            page.evaluate("document.getElementById('countdown').hidden = false")
            page.evaluate("document.querySelector('[data-seconds]').textContent = '17'")
            shot("idle-countdown-th")
            stack.remove()
            page.wait_for_function("() => document.body.dataset.page === 'home'")
            stack.stop_broker()
            stack.insert(0)
            page.wait_for_selector("dl[data-summary]")
            shot("summary-offline-th")
            page.goto(stack.url + "en/petition/")
            shot("petition-offline-with-card-en")
            stack.remove()
            page.wait_for_function("() => document.body.dataset.page === 'home'")
            page.goto(stack.url + "en/track/")
            shot("tracking-offline-en")
    finally:
        stack.stop()
        pcscd.cleanup()
        shutil.rmtree(workdir, ignore_errors=True)
    print(f"screenshots in {OUT}")


def counter_screens() -> None:
    """Counter mode: the officer's login, then a resident's summary with the officer's bar."""
    from device.config import KioskConfig
    from tests.operator_fixtures import create_test_operator

    workdir = Path(tempfile.mkdtemp(prefix="dcs-screens-counter-"))
    pcscd = LocalPcscd(workdir=workdir / "pcscd")
    stack = KioskStack(workdir, pcscd, kiosk_config=KioskConfig(port=0, counter_mode=True))
    try:
        pcscd.start()
        stack.start(replica=False)
        username, password = create_test_operator("officer", "officer.somchai")
        with chromium() as (_, browser):
            page = open_page(browser, stack.url + "th/")
            page.wait_for_function("() => window.kioskPaintedAt")
            page.screenshot(path=OUT / "counter-login-th.png")
            page.fill("#counter-login input[name=username]", username)
            page.fill("#counter-login input[name=password]", password)
            page.click("#counter-login button[type=submit]")
            page.wait_for_selector("[data-officer]")
            stack.insert(0)
            page.wait_for_selector("dl[data-summary]", timeout=30_000)
            page.screenshot(path=OUT / "counter-summary-th.png")
    finally:
        stack.stop()
        pcscd.cleanup()
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
    counter_screens()
