"""A walk through every kiosk flow in one language, the way a resident moves through them.

:func:`walk` drives one station (:class:`tests.kiosk_browser.KioskStack`, a real card through
pcscd, codes read from the server's SMS sink) in Chromium: home and the utilities, a petition
without a card and its tracking, then with a card the summary and its four detail screens,
the password reset, the e-ID account, a petition with the card and "my petitions", the idle
countdown and large text, Finish with the card still in, and with the broker stopped the
offline variants; last the out-of-service screen. Screens are reached by tapping what is on
them (the tiles, the buttons, the header's title); typing uses ``fill`` (the on-screen
keyboard has its own tests). At every screen it calls ``look(name)``, which checks it.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Callable

from playwright.sync_api import Error as PlaywrightError
from playwright.sync_api import Page, expect

from devtools.paysim import PaySim
from sync_server.sms.models import SentSms
from tests.kiosk_browser import KioskStack, wait_for

#: What each language types into a petition: a person writes in their own language.
SUBJECTS = {"th": "ไฟทางเดินชั้น 3 ดับ", "vi": "Đèn hành lang tầng 3 bị hỏng", "en": "Hall light out"}
CARD_TIMEOUT_MS = 30_000


def sms_code(phone: str, seen: int) -> str:
    """The code in the SMS to ``phone`` after the first ``seen`` ones."""
    rows = wait_for(
        lambda: list(SentSms.select().where(SentSms.to == phone).order_by(SentSms.id))[seen:],
        "the SMS with the code",
    )
    return re.search(r"\b(\d{6})\b", rows[-1].text).group(1)


def sms_count(phone: str) -> int:
    """How many SMS ``phone`` has had so far."""
    return SentSms.select().where(SentSms.to == phone).count()


class Walk:
    """One language's walk; ``look(name)`` is called on every screen reached."""

    def __init__(
        self,
        stack: KioskStack,
        page: Page,
        lang: str,
        look: Callable[[str], None],
        bank: PaySim,
    ):
        self.stack, self.page, self.lang, self.look = stack, page, lang, look
        #: The simulated bank: it pays a QR as a resident's banking app would.
        self.bank = bank
        #: The card holder of the station's building (in its replica) and a visitor from
        #: another building (not in it: "no data offline").
        self.card, self.visitor = 0, 1
        # A phone per flow: each reads its own codes under the per-number limit.
        self.phone = "0812345678"
        self.eid_phone = "0817654321"

    def screen(self, name: str) -> None:
        """The screen is painted: look at it."""
        self.page.wait_for_load_state()
        self.page.wait_for_function("() => window.kioskPaintedAt")
        self.look(name)

    def submit(self) -> None:
        """Tap the screen's main button (the keyboard's Done first, if the keyboard is up)."""
        page = self.page
        done = page.locator("#osk [data-action=done]")
        if done.is_visible():
            done.click()
        page.locator("#screen button[type=submit]").last.click()

    def home(self) -> None:
        """Tap the header's title: the way home from anywhere."""
        self.page.locator("header a[data-action=home]").click()
        expect(self.page.locator("body")).to_have_attribute("data-page", re.compile("home|summary"))

    def pull_card(self) -> None:
        """Pull the card: the screen goes home in the default language (the next resident's),
        and this resident taps their language again."""
        page = self.page
        self.stack.remove()
        expect(page.locator("body")).to_have_attribute("data-page", "home")
        expect(page.locator("body")).to_have_attribute("data-personal", "0")
        page.locator(f"header [data-lang={self.lang}]").click()
        expect(page.locator("html")).to_have_attribute("lang", self.lang)

    def code(self, phone: str, seen: int, name: str) -> None:
        """The code screen: a wrong code first (its error screen), then the right one."""
        page = self.page
        expect(page.locator("input[name=code]")).to_be_visible()
        self.screen(f"{name}-code")
        page.fill("input[name=code]", "000000" if sms_code(phone, seen) != "000000" else "111111")
        self.submit()
        expect(page.locator("[data-error]")).to_be_visible()
        self.screen(f"{name}-code-wrong")
        page.fill("input[name=code]", sms_code(phone, seen))
        self.submit()

    # -- the flows ----------------------------------------------------------------------

    def run(self) -> None:
        """Every flow, in order (each leaves the kiosk at home). Four SMS in all: a
        station's SMS budget allows four in ten minutes, so the petition with the card is
        filed offline (no code), and the password's error screen comes from a number the
        station itself refuses. The network stays down from the offline flow on."""
        self.without_card()
        self.with_card()
        self.offline()
        self.locked()
        self.missing_page()

    def without_card(self) -> None:
        page, lang = self.page, self.lang
        page.goto(self.stack.url + f"{lang}/")
        self.screen("home")
        # A check-up needs the card.
        page.locator("a.tile[data-service=checkup]").click()
        expect(page.locator("[data-notice=checkup-needs-card]")).to_be_visible()
        self.screen("checkup-needs-card")
        self.home()
        page.locator("a.tile[data-service=bills]").click()
        expect(page.locator("body")).to_have_attribute("data-page", "bills-need-card")
        self.screen("bills-need-card")
        self.home()
        # A petition without a card, by code.
        page.locator("[data-service=petition]").click()
        self.screen("petition-services")
        page.locator("[data-choice=population_correction]").click()
        self.screen("petition-phone")
        page.fill("input[name=phone]", "12")
        self.submit()
        expect(page.locator("[data-error]")).to_be_visible()
        self.screen("petition-phone-bad")
        page.fill("input[name=phone]", self.phone)
        seen = sms_count(self.phone)
        self.submit()
        self.code(self.phone, seen, "petition")
        self.screen("petition-form-population_correction")
        self.submit()
        expect(page.locator("[data-error]")).to_be_visible()
        self.screen("petition-form-empty")
        page.fill("input[name=item]", SUBJECTS[lang])
        page.fill("input[name=correct_value]", SUBJECTS[lang])
        self.submit()
        number = page.locator("[data-number]").inner_text()
        self.screen("petition-done")
        page.locator("#screen a.button").click()
        # Track it: number, phone, code, the status, printed.
        page.locator("[data-service=tracking]").click()
        self.screen("tracking-start")
        page.fill("input[name=number]", number)
        page.fill("input[name=phone]", self.phone)
        seen = sms_count(self.phone)
        self.submit()
        self.code(self.phone, seen, "tracking")
        expect(page.locator(f"[data-petition='{number}']")).to_be_visible()
        self.screen("tracking-status")
        page.locator("[data-print-status]").click()
        expect(page.locator("[data-printed]")).to_be_visible()
        self.screen("tracking-status-printed")
        self.home()

    def with_card(self) -> None:
        page, stack = self.page, self.stack
        stack.insert(self.card)
        expect(page.locator("dl[data-summary]")).to_be_visible(timeout=CARD_TIMEOUT_MS)
        self.screen("summary")
        for tab in ("hospital", "contributions", "benefits", "old_age"):
            page.locator(f"[data-tab={tab}]").click()
            self.screen(f"insured-{tab}")
        page.locator("[data-tab=summary]").click()
        # Large text and high contrast, then back.
        page.locator("[data-action=display]").click()
        expect(page.locator("body")).to_have_class("large")
        self.screen("summary-large-text")
        page.locator("[data-action=display]").click()
        expect(page.locator("body")).not_to_have_class("large")
        self.password()
        self.eid()
        self.my_petitions()
        self.checkup()
        self.bills()
        self.insurance()
        # The idle countdown over a personal screen.
        page.evaluate("document.getElementById('countdown').hidden = false")
        page.evaluate("document.querySelector('[data-seconds]').textContent = '17'")
        self.screen("idle-countdown")
        page.locator("[data-extend]").click()
        expect(page.locator("#countdown")).to_be_hidden()
        # Finish with the card still in: why the visit ended, and how to start again.
        page.locator("[data-finish] button").click()
        expect(page.locator("[data-notice=visit-ended]")).to_be_visible()
        self.screen("home-visit-ended")
        page.locator("[data-action=start-again]").click()
        expect(page.locator("dl[data-summary]")).to_be_visible(timeout=CARD_TIMEOUT_MS)
        self.pull_card()

    def password(self) -> None:
        from sync_server.records.models import InsuranceAccount

        page = self.page
        account = InsuranceAccount.get(
            InsuranceAccount.citizen == self.stack.resident(self.card).citizen_id
        )
        page.locator("[data-service='password.start']").click()
        self.screen("password-start")
        # Too short a number: refused on the station (no SMS spent).
        page.fill("input[name=insurance_number]", account.insurance_number[:6])
        page.fill("input[name=phone]", account.phone)
        self.submit()
        expect(page.locator("[data-error]")).to_be_visible()
        self.screen("password-no-match")
        page.fill("input[name=insurance_number]", account.insurance_number)
        page.fill("input[name=phone]", account.phone)
        seen = sms_count(account.phone)
        self.submit()
        self.code(account.phone, seen, "password")
        expect(page.locator("[data-temporary-password]")).to_be_visible()
        self.screen("password-done")
        self.home()

    def eid(self) -> None:
        page = self.page
        page.locator("[data-service='eid.start']").click()
        self.screen("eid-start")
        page.locator("[data-for=foreigner]").click()
        self.screen("eid-passport")
        page.fill("input[name=passport_number]", "??")
        page.select_option("select[name=nationality]", "VN")
        self.submit()
        expect(page.locator("[data-error=bad_passport]")).to_be_visible()
        self.screen("eid-passport-bad")
        self.home()
        page.locator("[data-service='eid.start']").click()
        page.locator("[data-for=ward]").click()
        # This card holder has no account of their own: the screen says a guardian needs one.
        expect(page.locator("[data-error=guardian_not_registered]")).to_be_visible()
        self.screen("eid-wards-no-account")
        self.home()
        page.locator("[data-service='eid.start']").click()
        page.locator("[data-level2-link]").click()
        expect(page.locator("[data-level2-steps]")).to_be_visible()
        self.screen("eid-level2")
        page.locator("#screen a.button").click()
        expect(page.locator("[data-card-data]")).to_be_visible()
        page.locator("[data-for=me]").click()
        self.screen("eid-contact")
        page.fill("input[name=phone]", self.eid_phone)
        seen = sms_count(self.eid_phone)
        self.submit()
        expect(page.locator("input[name=code]")).to_be_visible()
        page.fill("input[name=code]", sms_code(self.eid_phone, seen))
        page.locator("input[name=password]").focus()
        expect(page.locator("#osk")).to_be_visible()
        self.screen("eid-finish-keyboard")
        page.fill("input[name=password]", "Lobby-Station-42")
        page.fill("input[name=password_again]", "Lobby-Station-41")
        self.submit()
        expect(page.locator("[data-error]")).to_be_visible()
        self.screen("eid-finish-mismatch")
        page.fill("input[name=code]", sms_code(self.eid_phone, seen))
        page.fill("input[name=password]", "Lobby-Station-42")
        page.fill("input[name=password_again]", "Lobby-Station-42")
        self.submit()
        expect(page.locator("[data-eid-done]")).to_be_visible()
        self.screen("eid-done")
        self.home()

    def my_petitions(self) -> None:
        """None yet: the petition filed without the card is not this card holder's."""
        page = self.page
        page.locator("[data-service='tracking.mine']").click()
        expect(page.locator("[data-notice=no-petitions]")).to_be_visible()
        self.screen("my-petitions-none")
        self.home()

    def checkup(self) -> None:
        """Book the first free slot, look at it, cancel it (two SMS to the phone on file)."""
        page = self.page
        page.locator("[data-service='checkup.start']").click()
        expect(page.locator("[data-slot]").first).to_be_visible()
        self.screen("checkup-slots")
        page.locator("[data-slot]").first.click()
        expect(page.locator("[data-booked-when]")).to_be_visible()
        self.screen("checkup-booked")
        page.locator("[data-action=my-checkup]").click()
        self.screen("checkup-mine")
        page.locator("[data-action=cancel-checkup]").click()
        expect(page.locator("[data-notice=checkup-cancelled]")).to_be_visible()
        self.screen("checkup-cancelled")
        self.home()

    def bills(self) -> None:
        """The card holder's bills; the management fee paid by QR (the bank confirms it);
        a second QR left unpaid until it expires."""
        from datetime import timedelta

        from sync_server.bills.models import Payment

        page = self.page
        page.locator("[data-service='bills.start']").click()
        expect(page.locator("[data-bills]")).to_be_visible()
        self.screen("bills-list")
        self.choose_only("management")
        page.locator("[data-action=pay]").click()
        expect(page.locator("[data-qr] svg")).to_be_visible()
        self.screen("bills-qr")
        reference = page.locator("[data-reference]").inner_text()
        payload = Payment.get_by_id(reference).payload
        assert self.bank.post("/scan", {"payload": payload})["answer"] == {"result": "paid"}
        expect(page.locator("[data-paid]")).to_be_visible()
        self.screen("bills-paid")
        self.home()
        page.locator("[data-service='bills.start']").click()
        self.choose_only("electricity")
        page.locator("[data-action=pay]").click()
        expect(page.locator("[data-qr] svg")).to_be_visible()
        # Time passes on the server: past the QR's end and the grace for a late callback.
        payment = Payment.get_by_id(page.locator("[data-reference]").inner_text())
        payment.expires_at = payment.expires_at - timedelta(hours=1)
        payment.save()
        expect(page.locator("[data-notice=expired]")).to_be_visible()
        self.screen("bills-expired")
        self.home()

    def choose_only(self, kind: str) -> None:
        """Tick only the bill of ``kind``."""
        for box in self.page.locator("[data-bill] input[type=checkbox]").all():
            if box.is_checked():
                box.click()
        self.page.locator(f"[data-bill={kind}] input[type=checkbox]").click()

    def insurance(self) -> None:
        """The household plans quoted for the card holder (buying is the QR flow again)."""
        page = self.page
        page.locator("[data-service='bills.insurance']").click()
        expect(page.locator("[data-quotes]")).to_be_visible()
        self.screen("insurance-quotes")
        self.home()

    def offline(self) -> None:
        page, stack, lang = self.page, self.stack, self.lang
        # Bills listed online, then the network drops before the resident pays: the kiosk
        # says so and offers the bill's QR on paper.
        stack.insert(self.card)
        expect(page.locator("dl[data-summary]")).to_be_visible(timeout=CARD_TIMEOUT_MS)
        page.locator("[data-service='bills.start']").click()
        expect(page.locator("[data-bills]")).to_be_visible()
        self.choose_only("electricity")  # the management fee is paid by now
        stack.stop_broker()
        page.locator("[data-action=pay]").click()
        expect(page.locator("[data-notice=offline]")).to_be_visible()
        self.screen("bills-offline")
        self.pull_card()
        self.home()
        expect(page.locator("[data-net]")).to_have_attribute("data-net", "offline")
        self.screen("home-offline")
        page.locator("[data-service=petition]").click()
        self.screen("petition-services-offline-no-card")
        self.home()
        page.locator("[data-service=tracking]").click()
        self.screen("tracking-offline")
        self.home()
        stack.insert(self.visitor)
        expect(page.locator("[data-notice=no-record]")).to_be_visible(timeout=CARD_TIMEOUT_MS)
        self.screen("summary-not-found-offline")
        self.pull_card()
        stack.insert(self.card)
        expect(page.locator("dl[data-summary]")).to_be_visible(timeout=CARD_TIMEOUT_MS)
        self.screen("summary-offline")
        page.locator("[data-tab=benefits]").click()
        self.screen("insured-benefits-offline")
        self.home()
        for service in (
            "password.start",
            "eid.start",
            "petition.start",
            "tracking.mine",
            "checkup.start",
            "bills.start",
            "bills.insurance",
        ):
            page.locator(f"[data-service='{service}']").click()
            self.screen(service.replace(".", "-") + "-offline")
            self.home()
        page.locator("[data-service='petition.start']").click()
        page.locator("[data-choice=general_petition]").click()
        self.screen("petition-phone-offline-card")
        page.fill("input[name=phone]", self.phone)
        self.submit()
        self.screen("petition-form-general_petition")
        page.fill("input[name=subject]", SUBJECTS[lang])
        self.submit()
        expect(page.locator("[data-number]")).to_be_visible()
        self.screen("petition-done-offline")
        self.pull_card()

    def missing_page(self) -> None:
        """An address that does not exist (a stale link): a screen in the language, with a
        way home, never the framework's bare English page."""
        page = self.page
        page.goto(self.stack.url + f"{self.lang}/no-such-screen")
        expect(page.locator("#oops")).to_be_visible()
        self.screen("not-found")
        page.locator("#oops [data-action=home]").click()
        expect(page.locator("body")).to_have_attribute("data-page", "home")

    def locked(self) -> None:
        lock = self.stack.station.service_lock
        lock.lock("walk-through")
        try:
            # The open page may already be reloading into the out-of-service screen.
            with contextlib.suppress(PlaywrightError):
                self.page.goto(self.stack.url + f"{self.lang}/")
            expect(self.page.locator("#out-of-service")).to_be_visible()
            # The page's own reload goes to the default language: come back to this one.
            self.page.goto(self.stack.url + f"{self.lang}/")
            expect(self.page.locator("#out-of-service")).to_be_visible()
            self.screen("locked")
        finally:
            lock.unlock()
        # Unlocked, the out-of-service screen goes home by itself: let it, before going on.
        expect(self.page.locator("#out-of-service")).to_have_count(0)
        expect(self.page.locator("body")).to_have_attribute("data-page", "home")
