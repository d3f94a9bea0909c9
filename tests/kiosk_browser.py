"""The kiosk under test: the whole station stack, a real card through pcscd, a real browser.

:class:`KioskStack` wires what a lobby station runs: Mosquitto, the central server with
seeded synthetic residents, its ingest worker, replica publisher and kiosk-services worker;
a station with the real card reader (pyscard → pcscd → vpcd → a virtual card process), the
virtual network printer and its replica of its building; the kiosk served by cheroot; and
Debian's Chromium driven by Playwright (never a downloaded browser). Tests and
``bench/kiosk.py`` build it the same way.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import msgspec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from playwright.sync_api import Browser, Page, Playwright, sync_playwright

from contract.local_time import LocalTime
from contract.replica_seal import raw_public
from device.config import KioskConfig, ReplicaConfig
from device.kiosk.server import KioskServer
from device.station import Station, build_station
from devtools.broker import LocalBroker
from devtools.cardstack import LocalPcscd, VirtualCardProcess
from devtools.seed import seed_records
from devtools.synthetic import residents, write_card_files
from hardware.card import CardConfig
from hardware.printer import LayoutConfig, PrinterConfig
from hardware.printer.config import VirtualConfig
from hardware.printer.virtual import VirtualPrinter
from provisioning.broker import SERVER_USER, BrokerLimits
from sync_server import broker_settings, create_app
from sync_server.db import database
from sync_server.ingest.worker import IngestWorker
from sync_server.migrations import upgrade_url
from sync_server.replicas import enrol_station
from sync_server.replicas.keys import public_key_text
from sync_server.replicas.service import ReplicaService

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
#: The kiosk's touchscreen.
VIEWPORT = {"width": 1280, "height": 800}
STATION_ID = "st-a"
AS_OF = date(2026, 11, 24)
#: Residents seeded on the server; the first ones are the card holders.
POPULATION = 40
GUARD_S = 30.0


def wait_for(predicate: Callable[[], object], what: str, deadline_s: float = 60.0) -> object:
    """Poll until ``predicate`` is truthy (a hang guard, never a speed requirement)."""
    import time

    end = time.monotonic() + deadline_s
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > end:
            raise AssertionError(f"gave up waiting for {what}")
        time.sleep(0.02)


@contextlib.contextmanager
def chromium() -> Iterator[tuple[Playwright, Browser]]:
    """Debian's Chromium, headless, under Playwright."""
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield playwright, browser
        finally:
            browser.close()


@dataclass
class KioskStack:
    """Everything a kiosk test needs, started by :meth:`start`, stopped by :meth:`stop`."""

    root: Path
    pcscd: LocalPcscd
    card_files: list[Path] = field(default_factory=list)
    broker: LocalBroker | None = None
    printer: VirtualPrinter | None = None
    station: Station | None = None
    kiosk: KioskServer | None = None
    ingest: IngestWorker | None = None
    services: object = None
    publisher: ReplicaService | None = None
    app: object = None
    cards: list[VirtualCardProcess] = field(default_factory=list)
    kiosk_config: KioskConfig = field(default_factory=lambda: KioskConfig(port=0))
    #: The deployment's zone and calendar (None: the station's default, Thailand).
    local_time: LocalTime | None = None
    #: The server's extra config (TIMEZONE, CALENDAR, KIOSK_REQUEST_MAX_AGE_S, billers...).
    server_config: dict = field(default_factory=dict)
    #: How receipts are laid out ("codepage" makes the printed text readable in the bytes).
    printer_layout: LayoutConfig | None = None

    @property
    def building(self) -> str:
        """The building of the first card holder: the station's replica scope."""
        return next(iter(residents(1))).building

    def start(self, *, replica: bool = True, services: bool = True) -> KioskStack:
        """Broker, server (seeded), workers, station with its devices, and the kiosk."""
        self.card_files = write_card_files(4, self.root / "cards")
        from tests.conftest import session_ca

        self.broker = LocalBroker(limits=BrokerLimits(), ca=session_ca())
        self.broker.add_user(SERVER_USER)
        self.broker.add_user(STATION_ID)
        self.broker.start()
        from tests.conftest import server_signing_key_file

        config = {
            "TESTING": True,
            "SECRET_KEY": "kiosk-test-secret",
            # Commands and notices are signed with the key the station's config trusts.
            "REPLICA_SIGNING_KEY_FILE": str(server_signing_key_file()),
            "DATABASE_URL": upgrade_url(f"sqlite:///{self.root / 'server.sqlite3'}"),
            **self.broker.server_config(),
            **self.server_config,
        }
        self.app = create_app(config)
        seed_records(POPULATION, as_of=AS_OF)
        settings = broker_settings(self.app.config)
        self.ingest = IngestWorker(database.obj, settings, worker_id="1").start()
        if services:
            from sync_server.kiosk_services.worker import KioskServicesWorker

            self.services = KioskServicesWorker.from_config(self.app.config).start()
        signing_key = Ed25519PrivateKey.generate()
        if replica:
            self.publisher = ReplicaService(database.obj, settings, signing_key, poll_s=0.2).start()
        self.printer = VirtualPrinter(self.root / "printer", control_port=None).start()
        self.station = build_station(
            self._station_config(signing_key if replica else None), devices=True
        )
        assert self.station.hardware is not None and self.station.hardware.receipts is not None
        self.station.hardware.receipts.poll_interval_s = 0.1
        if replica:
            key = raw_public(self.station.replica._station_key.public_key())
            enrol_station(STATION_ID, self.building, key)
        self.station.start()
        self.kiosk = KioskServer(self.station, self.kiosk_config).start()
        wait_for(lambda: self.station.sync.link.connected, "the station to connect")
        if replica:
            wait_for(lambda: self.station.replica.state.records > 0, "the replica to arrive")
        return self

    def _station_config(self, signing_key: Ed25519PrivateKey | None):  # type: ignore[no-untyped-def]
        from device.store import create_key_file
        from tests.conftest import station_config

        secrets_dir = self.root / STATION_ID / "secrets"
        secrets_dir.mkdir(parents=True, exist_ok=True)
        if not (secrets_dir / "store.key").exists():
            create_key_file(secrets_dir / "store.key")
        host, port = self.printer.address
        base = station_config(self.root, self.broker, STATION_ID)
        return msgspec.structs.replace(
            base,
            card=CardConfig(
                backend="real", reader_filter=self.pcscd.reader(0), settle_s=0.05, poll_s=0.2
            ),
            printer=PrinterConfig(
                backend="virtual",
                virtual=VirtualConfig(host=host, port=port),
                layout=self.printer_layout or LayoutConfig(),
            ),
            kiosk=self.kiosk_config,
            tracking_url="https://dcs.example.invalid/track?number={number}",
            local_time=self.local_time or base.local_time,
            replica=None
            if signing_key is None
            else ReplicaConfig(
                building=self.building, server_public_key=public_key_text(signing_key)
            ),
        )

    @property
    def url(self) -> str:
        """The kiosk's home."""
        assert self.kiosk is not None
        return self.kiosk.url

    # -- the card -----------------------------------------------------------------------

    def insert(self, index: int = 0) -> VirtualCardProcess:
        """Insert card ``index`` (a virtual card process connecting to vpcd's slot 0)."""
        card = VirtualCardProcess(self.card_files[index], self.pcscd.slot_port(0)).start()
        self.cards.append(card)
        return card

    def remove(self) -> None:
        """Pull the card(s) out and wait until the reader says so."""
        for card in self.cards:
            card.stop()
        self.cards.clear()
        assert self.station is not None and self.station.hardware is not None
        reader = self.station.hardware.card
        wait_for(lambda: not reader.card_present, "the card to leave the reader", GUARD_S)

    def resident(self, index: int = 0):  # type: ignore[no-untyped-def]
        """The synthetic resident on card ``index``."""
        return list(residents(index + 1))[index]

    # -- the network --------------------------------------------------------------------

    def stop_broker(self) -> None:
        """Take the network away: stop Mosquitto (by pid) and wait for the station to see it."""
        assert self.broker is not None and self.station is not None
        self.broker.stop()
        wait_for(lambda: not self.station.sync.link.connected, "the station to go offline")

    def stop(self) -> None:
        """Stop everything by pid, in reverse order; safe after a failed start."""
        for card in self.cards:
            card.stop()
        self.cards.clear()
        for part in (self.kiosk,):
            if part is not None:
                part.stop()
        if self.station is not None:
            self.station.close()
        for worker in (self.services, self.ingest, self.publisher):
            if worker is not None:
                worker.stop()
        if self.printer is not None:
            self.printer.close()
        if self.broker is not None:
            self.broker.cleanup()
        database.close()


def open_page(browser: Browser, url: str, lang: str = "th", *, touch: bool = False) -> Page:
    """A kiosk-sized page on ``url``; ``touch``: a touchscreen (``page.touchscreen.tap``)."""
    context = browser.new_context(
        viewport=VIEWPORT,
        locale={"th": "th-TH", "vi": "vi-VN", "en": "en-GB"}[lang],
        has_touch=touch,
    )
    page = context.new_page()
    page.goto(url)
    return page


def settled_content(page: Page, attempts: int = 50) -> str:
    """The page's HTML once it is not in the middle of a navigation (the kiosk clears a
    screen by navigating home, so a check right after may land mid-way)."""
    from playwright.sync_api import Error as PlaywrightError

    for _ in range(attempts):
        try:
            page.wait_for_load_state()
            return page.content()
        except PlaywrightError:
            page.wait_for_timeout(100)
    return page.content()
