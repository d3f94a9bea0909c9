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

from provisioning.net import free_port
from sync_server import create_app
from sync_server.backoffice import service
from sync_server.db import database
from sync_server.sms import SinkGateway
from tests.operator_fixtures import create_test_operator
from tests.petition_fixtures import file_petitions
from tests.web_login import login

OUT = Path(__file__).resolve().parent.parent / "docs" / "screens"


def main() -> None:
    """Serve, seed, log in as each role and photograph its pages."""
    root = Path(tempfile.mkdtemp(prefix="dcs-screens-"))
    app = create_app(
        {
            "TESTING": True,
            "SECRET_KEY": "screens-secret-0123456789abcdefghijkl",
            "DATABASE_URL": f"sqlite:///{root / 'server.sqlite3'}",
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
            gateway=SinkGateway(),
            tracking_url=f"https://dcs.example.invalid/track?number={numbers[0]}",
        )
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
