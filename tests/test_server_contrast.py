"""The server's operator pages meet WCAG AA contrast: axe-core in Chromium, page by page.

The same pages as ``make screens`` (``tests/server_screens.py``): the login, the back office's
queue and a petition, the profile, the dashboard's fleet, a station and its alarms, the SMS
log, the operators and the audit log; each role sees its own, with a fleet in assorted states.
"""

from __future__ import annotations

import pytest

from sync_server.db import database
from sync_server.petitions import service
from tests.operator_fixtures import create_test_operator
from tests.petition_fixtures import file_petitions
from tests.screen_checks import contrast_findings
from tests.server_screens import _fleet
from tests.web_browser import headless_chromium, serving
from tests.web_login import login

#: Each role's pages (``{number}``: a petition's number).
PAGES = {
    "officer": ["/backoffice/", "/backoffice/petitions/{number}", "/account/profile"],
    "operations": [
        "/dashboard/",
        "/dashboard/stations/st-lobby-a",
        "/dashboard/alarms",
        "/sms/sent",
        "/dashboard/notices",
    ],
    "administrator": ["/admin/operators", "/admin/audit"],
}


@pytest.fixture
def seeded(server_app):
    with server_app.app_context(), database.connection_context():
        numbers = file_petitions("st-lobby-a", 3, form={"subject": "ไฟทางเดินชั้น 3 ดับ"})
        file_petitions("st-lobby-b", 2, service="population_correction")
        service.change_status(numbers[0], "in_review", actor="officer1", comment="ส่งช่างแล้ว")
    _fleet(server_app)
    return numbers[0]


def test_every_operator_page_meets_wcag_aa_contrast(server_app, seeded):
    found: dict[str, list[str]] = {}
    with serving(server_app) as base, headless_chromium() as browser:
        context = browser.new_context(viewport={"width": 1280, "height": 860})
        page = context.new_page()
        page.goto(f"{base}/login")
        found["/login"] = contrast_findings(page)
        context.close()
        for role, paths in PAGES.items():
            context = browser.new_context(viewport={"width": 1280, "height": 860})
            page = context.new_page()
            login(page, base, *create_test_operator(role))
            for path in paths:
                page.goto(base + path.format(number=seeded))
                assert page.url.endswith(path.format(number=seeded)), page.url
                found[path] = contrast_findings(page)
            context.close()
    found = {path: items for path, items in found.items() if items}
    assert found == {}, "\n".join(f"{path}: {items}" for path, items in found.items())
