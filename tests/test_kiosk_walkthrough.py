"""Every kiosk flow walked in Thai, Vietnamese and English, every screen checked in Chromium.

One station per language (a fresh server too: a station may send four SMS in ten minutes)
and one browser for all. At each screen of the walk (``tests/kiosk_walk.py``):

- axe-core's ``color-contrast`` rule: every text at least 4.5:1, large text 3:1, in the
  normal display and (the Thai walk, each kind of screen once) in large text with high
  contrast;
- no raw catalogue key or ``snake_case`` code in what a person reads;
- in a Thai or Vietnamese screen, no English word the screen's own catalogue does not use;
- a way home, in the same language, on the screen.

Which templates rendered is recorded from Flask's ``template_rendered`` signal, so a new
screen that no walk reaches fails ``test_the_walk_reaches_every_kiosk_screen``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

import pytest
from flask import template_rendered
from playwright.sync_api import Browser, Page, expect

from device.config import KioskConfig
from devtools.cardstack import LocalPcscd
from devtools.clinic import ClinicProcess
from devtools.paysim import PaySim
from sync_server.bills.management import FeeLine, set_fees
from sync_server.db import database
from tests import screen_checks
from tests.kiosk_browser import KioskStack, chromium, open_page
from tests.kiosk_walk import CARD_TIMEOUT_MS, Walk
from tests.web_browser import serving

LANGUAGES = ("th", "vi", "en")
#: The month the simulated billers bill, and the bank's webhook secret.
PERIOD = "2026-11"
BANK_SECRET = "walk-bank-secret"
TEMPLATES = Path(__file__).resolve().parents[1] / "device" / "kiosk" / "templates"
#: Templates no walk shows on its own, and why.
NOT_WALKED = {
    # Extended or included by other screens (checked there), never rendered alone.
    "base.html": "layout",
    "_error.html": "partial",
    "insured/_source.html": "partial",
    "insured/_tabs.html": "partial",
    "insured/_hospital_name.html": "partial",
    "petition/_channels.html": "partial",
    "checkup/_when.html": "macro",
    # Shown for the instant between the card's insertion and its data (a spinner).
    "insured/reading.html": "transient",
    # Counter mode only: test_the_counter_screens_pass_the_same_checks.
    "counter/login.html": "counter mode",
    "counter/about.html": "counter mode",
}


#: A screen's kind for the large-text check: its page, whether it shows an error, a notice,
#: the countdown or the keyboard (what changes which colours are on it).
_KIND = """() => [document.body.dataset.page,
  ...["[data-error]", ".notice.warn", ".label.offline", "#countdown", "#osk"].map(
    (s) => { const el = document.querySelector(s); return !!el && el.checkVisibility(); })
].join(" ")"""


@dataclass
class Screens:
    """What one walk saw: findings per check, per screen, and the templates rendered."""

    names: list[str] = field(default_factory=list)
    findings: dict[str, dict[str, list[str]]] = field(default_factory=dict)
    templates: set[str] = field(default_factory=set)
    #: The kinds of screen already checked in large text (see ``_KIND``).
    large_kinds: set[str] = field(default_factory=set)

    def add(self, check: str, screen: str, found: list[str]) -> None:
        if found:
            self.findings.setdefault(check, {})[screen] = found

    def of(self, check: str) -> dict[str, list[str]]:
        return self.findings.get(check, {})


def look_at(page: Page, lang: str, screens: Screens, large_too: bool) -> Callable[[str], None]:
    """The checks every screen goes through; findings go into ``screens``."""

    def look(name: str) -> None:
        screens.names.append(name)
        text = screen_checks.visible_text(page)
        screens.add("contrast", name, screen_checks.contrast_findings(page))
        screens.add("touch target", name, screen_checks.target_findings(page))
        kind = page.evaluate(_KIND)
        if large_too and kind not in screens.large_kinds:
            screens.large_kinds.add(kind)
            # The same screen in large text and high contrast (a class on the body: the
            # screen may be a form's answer that cannot be asked for again).
            large = page.evaluate("document.body.classList.contains('large')")
            page.evaluate("document.body.classList.add('large')")
            screens.add("contrast", f"{name} (large)", screen_checks.contrast_findings(page))
            screens.add("touch target", f"{name} (large)", screen_checks.target_findings(page))
            page.evaluate(f"document.body.classList.toggle('large', {str(large).lower()})")
        screens.add("raw key", name, screen_checks.raw_key_findings(text))
        # A picker's options are data in the screen's language (CLDR's country names, which
        # keep "New" in Vietnamese "New Caledonia"), not the kiosk's catalogue.
        picked = page.evaluate(
            "[...document.querySelectorAll('select option')]"
            ".flatMap((o) => o.text.toLowerCase().split(/\\s+/))"
        )
        # A temporary password is random letters and digits: "ADD" in one is no English.
        secret = page.evaluate(
            "[...document.querySelectorAll('[data-temporary-password]')]"
            ".flatMap((e) => e.textContent.toLowerCase().split(/[^a-z]+/))"
        )
        allowed = frozenset(picked) | frozenset(secret)
        screens.add("english", name, screen_checks.english_findings(text, lang, allowed))
        screens.add("dead end", name, screen_checks.dead_end_findings(page, lang))

    return look


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with chromium() as (_, browser):
        yield browser


@pytest.fixture(scope="module")
def walked(
    browser: Browser, pcscd: LocalPcscd, tmp_path_factory: pytest.TempPathFactory
) -> Callable[[str], Screens]:
    """``walked(lang)``: the walk in ``lang`` (made once, on its first use)."""
    done: dict[str, Screens] = {}

    def walk(lang: str) -> Screens:
        if lang in done:
            return done[lang]
        screens = Screens()
        workdir = tmp_path_factory.mktemp(f"walk-{lang}")
        clinic = ClinicProcess(token="walk-clinic").start()
        billers = PaySim("billers", "--currency", "THB", "--period", PERIOD).start()
        stack = KioskStack(
            workdir,
            pcscd,
            server_config={
                "CLINIC_URL": clinic.url,
                "CLINIC_TOKEN": "walk-clinic",
                "PAYMENT_COUNTRY": "TH",
                "PAYMENT_PROMPTPAY_BILLER_ID": "010555512345601",
                "BANK_WEBHOOK_SECRET": BANK_SECRET,
                "PAYMENT_POLL_S": 0.2,
                "BILLER_URLS": {"electricity": f"{billers.url}/electricity"},
                "INSURANCE_PRODUCT_URL": f"{billers.url}/insurance",
            },
        )
        cleanup = ExitStack()
        try:
            stack.start()
            resident = stack.resident(0)
            with database.connection_context():
                fee = FeeLine("12A", resident.citizen_id, Decimal("1850.00"))
                set_fees(resident.building, PERIOD, [fee], "THB", "walk")
            (workdir / "bank-secret").write_text(BANK_SECRET)
            webhook = cleanup.enter_context(serving(stack.app)) + "/bills/webhook/bank"
            bank = PaySim(
                "bank", "--webhook", webhook, "--secret-file", str(workdir / "bank-secret")
            ).start()
            cleanup.callback(bank.stop)

            def rendered(sender: object, template: object, **extra: object) -> None:
                screens.templates.add(template.name)  # type: ignore[attr-defined]

            template_rendered.connect(rendered, stack.kiosk.app)
            page = open_page(browser, stack.url + f"{lang}/", lang)
            try:
                look = look_at(page, lang, screens, lang == "th")
                Walk(stack, page, lang, look, bank).run()
            finally:
                page.context.close()
                template_rendered.disconnect(rendered, stack.kiosk.app)
        finally:
            cleanup.close()
            stack.stop()
            billers.stop()
            clinic.stop()
        done[lang] = screens
        return screens

    return walk


def report(findings: dict[str, list[str]]) -> str:
    return "\n".join(f"{screen}: {found}" for screen, found in findings.items())


@pytest.mark.parametrize("lang", LANGUAGES)
def test_every_screen_meets_wcag_aa_contrast(walked, lang):
    screens = walked(lang)
    assert len(screens.names) > 40
    assert screens.of("contrast") == {}, report(screens.of("contrast"))


@pytest.mark.parametrize("lang", LANGUAGES)
def test_every_link_and_button_is_at_least_44_px_either_way(walked, lang):
    """EN 301 549 / WCAG 2.5.5 target size, measured on every screen of the walk (and in
    large text on the Thai walk)."""
    screens = walked(lang)
    assert screens.of("touch target") == {}, report(screens.of("touch target"))


@pytest.mark.parametrize("lang", LANGUAGES)
def test_no_screen_shows_a_raw_catalogue_key(walked, lang):
    screens = walked(lang)
    assert screens.of("raw key") == {}, report(screens.of("raw key"))


@pytest.mark.parametrize("lang", ["th", "vi"])
def test_no_thai_or_vietnamese_screen_falls_back_to_english(walked, lang):
    screens = walked(lang)
    assert screens.of("english") == {}, report(screens.of("english"))


@pytest.mark.parametrize("lang", LANGUAGES)
def test_every_screen_has_a_way_home_in_its_language(walked, lang):
    screens = walked(lang)
    assert screens.of("dead end") == {}, report(screens.of("dead end"))


def test_the_walk_reaches_every_kiosk_screen(walked):
    rendered = set().union(*(walked(lang).templates for lang in LANGUAGES))
    every = {path.relative_to(TEMPLATES).as_posix() for path in TEMPLATES.rglob("*.html")}
    assert every - rendered - set(NOT_WALKED) == set()
    assert set(NOT_WALKED) <= every, "NOT_WALKED names a template that is gone"


def test_the_checks_catch_what_they_look_for(browser):
    """The detectors themselves, on a page made to fail each of them."""
    page = browser.new_page()
    try:
        page.set_content(
            "<body><header><a data-action=home href='/th/'>x</a></header>"
            "<p style='color:#818a94;background:#fcfdfd'>ต้องเสียบบัตร</p></body>"
        )
        assert "3.43" in " ".join(screen_checks.contrast_findings(page))
    finally:
        page.close()
    assert screen_checks.raw_key_findings("สถานะ: status.received general_petition") == [
        "general_petition",
        "status.received",
    ]
    assert "Please" in screen_checks.english_findings("Please insert your card", "vi")
    assert screen_checks.english_findings("Vui lòng cắm thẻ SMS", "vi") == []


def test_the_counter_screens_pass_the_same_checks(browser, pcscd, tmp_path):
    """Counter mode: the officer's login (three languages), then a summary with the bar."""
    from tests.operator_fixtures import create_test_operator

    stack = KioskStack(tmp_path, pcscd, kiosk_config=KioskConfig(port=0, counter_mode=True))
    screens = Screens()
    try:
        stack.start(replica=False)
        username, password = create_test_operator("officer", "walkofficer")
        page = open_page(browser, stack.url + "th/")
        for lang in ("vi", "en", "th"):
            page.locator(f"header [data-lang={lang}]").click()
            expect(page.locator("#counter-login")).to_be_visible()
            look_at(page, lang, screens, lang == "th")(f"counter-login-{lang}")
        page.fill("#counter-login input[name=username]", username)
        page.fill("#counter-login input[name=password]", password)
        page.locator("#counter-login button[type=submit]").click()
        expect(page.locator("[data-officer]")).to_be_visible()
        stack.insert(0)
        expect(page.locator("dl[data-summary]")).to_be_visible(timeout=CARD_TIMEOUT_MS)
        look_at(page, "th", screens, True)("counter-summary-th")
        page.locator("[data-action=counter-about]").click()
        expect(page.locator("[data-conditions] li")).to_have_count(7)
        look_at(page, "th", screens, True)("counter-about-th")
        page.context.close()
    finally:
        stack.stop()
    assert screens.findings == {}, screens.findings
