"""``python -m tests.server_screens``: screenshots of the server's operator pages.

A throw-away SQLite server with synthetic petitions, served on a free loopback port and
driven by Debian's Chromium; writes ``docs/screens/server-*.png`` and fails on any browser
console error (a Content-Security-Policy violation shows up there).
"""

from __future__ import annotations

import tempfile
import threading
from pathlib import Path

from playwright.sync_api import sync_playwright
from werkzeug.serving import make_server

from devtools.net import free_port
from sync_server import create_app
from sync_server.db import database
from sync_server.migrations import upgrade_url
from sync_server.petitions import service
from tests.operator_fixtures import create_test_operator
from tests.petition_fixtures import file_petitions
from tests.web_login import login

OUT = Path(__file__).resolve().parent.parent / "docs" / "screens"


def _fleet(app) -> None:  # type: ignore[no-untyped-def]
    """Twelve stations in assorted states, their alarms, a few commands and an hour of traffic."""
    import json
    import uuid
    from datetime import timedelta

    from sync_server.dashboard import alarms
    from sync_server.dashboard.models import CommandRecord
    from sync_server.db import utc_now
    from sync_server.fleet.models import Station
    from sync_server.ingest.models import AppliedTransaction

    now = utc_now()
    with app.app_context(), database.connection_context():
        for index in range(12):
            station_id = (
                ["st-lobby-a", "st-lobby-b"][index] if index < 2 else f"st-tower-{index:02d}"
            )
            gauges = {
                "printer_state": 0,
                "tamper_open": 0,
                "watchdog_resets": 0,
                "disk_free_pct": 71,
            }
            presence = "online"
            if index == 3:
                gauges["printer_state"] = 2
            if index == 5:
                gauges["tamper_open"] = 1
            if index == 7:
                presence = "offline"
            Station.insert(
                station_id=station_id,
                presence=presence,
                presence_at=now - timedelta(minutes=25 if presence == "offline" else 300),
                last_heartbeat_at=now - timedelta(seconds=12 + index),
                backlog=0 if presence == "online" else 37,
                oldest_undelivered_age_s=None if presence == "online" else 1500.0,
                software_version="0.1.0",
                transactions_applied=40 + index,
                metrics=json.dumps(gauges),
            ).on_conflict_replace().execute()
        for minute in range(0, 24 * 60, 7):
            received = now - timedelta(minutes=minute)
            AppliedTransaction.create(
                tx_id=f"00000000-0000-7000-8000-{minute:012d}",
                station_id="st-lobby-a",
                seq=minute,
                kind="petition.filed",
                station_time=received - timedelta(seconds=2 + minute % 5),
                received_at=received,
            )
        alarms.evaluate(now, alarms.thresholds({"ALARM_OFFLINE_AFTER_S": 600}))
        for name, status, detail in (
            ("print_test_page", "done", "printed; printer ok"),
            ("ping", "done", "pong"),
            ("reboot", "expired", "no answer within its time to live"),
        ):
            record = CommandRecord.create(
                command_id=str(uuid.uuid4()),
                station_id="st-lobby-a",
                name=name,
                issued_by="ops1",
                expires_at=now + timedelta(hours=1),
            )
            CommandRecord.update(status=status, detail=detail, finished_at=now).where(
                CommandRecord.command_id == record.command_id
            ).execute()


def main() -> None:
    """Serve, seed, log in as each role and photograph its pages."""
    root = Path(tempfile.mkdtemp(prefix="dcs-screens-"))
    app = create_app(
        {
            "TESTING": True,
            "SECRET_KEY": "screens-secret-0123456789abcdefghijkl",
            "DATABASE_URL": upgrade_url(f"sqlite:///{root / 'server.sqlite3'}"),
        }
    )
    with app.app_context(), database.connection_context():
        numbers = file_petitions(
            "st-lobby-a", 6, form={"subject": "ไฟทางเดินชั้น 3 ดับ", "detail": "ตั้งแต่เมื่อวาน"}
        )
        file_petitions("st-lobby-b", 3, service="population_correction")
        service.change_status(
            numbers[0],
            "in_review",
            actor="officer1",
            comment="ส่งช่างไฟฟ้าแล้ว",
        )
    _fleet(app)
    officer = create_test_operator("officer", "officer1")
    operations = create_test_operator("operations", "ops1")
    admin = create_test_operator("administrator", "admin1")
    server = make_server("127.0.0.1", free_port(), app, threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{server.server_port}"
    errors: list[str] = []
    OUT.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path="/usr/bin/chromium", args=["--no-sandbox"]
        )

        def session(credentials: tuple[str, str]):  # type: ignore[no-untyped-def]
            page = browser.new_context(viewport={"width": 1200, "height": 860}).new_page()
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            login(page, base, *credentials)
            return page

        anonymous = browser.new_context(viewport={"width": 1200, "height": 700}).new_page()
        anonymous.goto(f"{base}/login")
        anonymous.screenshot(path=OUT / "server-login.png")
        page = session(officer)
        page.screenshot(path=OUT / "server-backoffice-queue.png", full_page=True)
        page.goto(f"{base}/backoffice/petitions/{numbers[0]}")
        page.screenshot(path=OUT / "server-backoffice-petition.png", full_page=True)
        page.goto(f"{base}/account/profile")
        page.screenshot(path=OUT / "server-profile.png")
        page = session(operations)
        page.screenshot(path=OUT / "server-dashboard-fleet.png", full_page=True)
        page.goto(f"{base}/dashboard/stations/st-lobby-a")
        page.screenshot(path=OUT / "server-dashboard-station.png", full_page=True)
        page.goto(f"{base}/dashboard/alarms")
        page.screenshot(path=OUT / "server-dashboard-alarms.png", full_page=True)
        page.goto(f"{base}/sms/sent")
        page.screenshot(path=OUT / "server-sms-sent.png", full_page=True)
        page = session(admin)
        page.goto(f"{base}/admin/operators")
        page.screenshot(path=OUT / "server-admin-operators.png", full_page=True)
        page.goto(f"{base}/admin/audit")
        page.screenshot(path=OUT / "server-audit.png", full_page=True)
        browser.close()
    server.shutdown()
    if errors:
        raise SystemExit("browser console errors: " + "; ".join(errors))
    print(f"screenshots in {OUT}")


if __name__ == "__main__":
    main()
