"""The rollout pages: create and abort for operations, waves and stations, in Chromium too."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from playwright.sync_api import Browser, expect

from contract.rollout import JobProgress
from sync_server import create_app
from sync_server.db import database, utc_now
from sync_server.rollouts import service
from sync_server.rollouts.jobs import Dispatcher
from sync_server.rollouts.models import Rollout, RolloutJob
from sync_server.rollouts.targets import Target
from tests.helpers import screens_dir
from tests.operator_fixtures import create_test_operator, csrf_token
from tests.rollout_fixtures import Recorder, put_stations
from tests.web_browser import headless_chromium, serving
from tests.web_login import login

SCREENS = screens_dir()


@pytest.fixture
def app(sqlite_url: str):
    app = create_app(
        {
            "TESTING": True,
            "SECRET_KEY": "rollout-pages-secret-0123456789abcdef",
            "DATABASE_URL": sqlite_url,
        }
    )
    yield app
    database.close()


def report(job: RolloutJob, state: str, **fields) -> None:
    now = utc_now()
    progress = JobProgress(
        job_id=job.job_id, station_id=job.station_id, state=state, station_time=now, **fields
    )
    service.record_progress(job.station_id, progress, now)


def test_operations_create_and_abort_a_configuration_rollout(app, login_client):
    put_stations("st-a", "st-b", "st-c")
    client = login_client("operations", app)
    page = client.get("/dashboard/rollouts/?lang=en")
    assert page.status_code == 200 and "New rollout" in page.text
    created = client.post(
        "/dashboard/rollouts/",
        data={
            "csrf_token": csrf_token(page.text),
            "kind": "config",
            "config_label": "idle-60",
            "settings": "kiosk.idle_timeout_s=60\nsync.window=512",
            "target_kind": "stations",
            "target_value": "st-b, st-a",
            "waves": "1",
            "success_pct": "100",
            "abort_pct": "0",
            "min_executed": "1",
            "deadline_h": "24",
        },
    )
    assert created.status_code == 303
    rollout = Rollout.get()
    assert rollout.kind == "config" and rollout.created_by == client.operator_username
    shown = client.get(created.headers["Location"])
    assert "idle-60" in shown.text and "kiosk.idle_timeout_s = 60" in shown.text
    assert shown.text.index("st-b") < shown.text.index("Wave 2")  # the canary first

    refused = client.post(
        "/dashboard/rollouts/",
        data={
            "csrf_token": csrf_token(page.text),
            "kind": "config",
            "config_label": "bad",
            "settings": "broker.host=evil.example",
            "target_kind": "all",
            "waves": "1",
        },
        follow_redirects=True,
    )
    assert "may not be changed remotely" in refused.text
    assert Rollout.select().count() == 1

    aborted = client.post(
        f"/dashboard/rollouts/{rollout.rollout_id}/abort",
        data={"csrf_token": csrf_token(shown.text), "reason": "wrong settings"},
        follow_redirects=True,
    )
    assert aborted.status_code == 200
    assert Rollout.get_by_id(rollout.rollout_id).state == "aborted"
    assert 'data-state="cancelled"' in aborted.text

    officer = login_client("officer", app)
    assert officer.get("/dashboard/rollouts/").status_code == 403
    assert officer.post(f"/dashboard/rollouts/{rollout.rollout_id}/abort").status_code in (
        400,
        403,
    )


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with headless_chromium() as browser:
        yield browser


def test_the_rollout_page_in_chromium(app, browser):
    stations = ["st-lobby-a", "st-lobby-b", "st-lobby-c", "st-lobby-d", "st-lobby-e"]
    put_stations(*stations)
    now = utc_now()
    rollout = service.create(
        service.Plan(
            target=Target("stations", stations=tuple(stations)),
            wave_sizes=[1, 2],
            deadline=now + timedelta(hours=72),
            success_pct=100,
            abort_pct=40,
        ),
        actor="ops1",
        now=now,
        config=("tune-sync", {"sync.window": 512, "sync.heartbeat_interval_s": 60}),
    )
    dispatcher = Dispatcher(Ed25519PrivateKey.generate(), Recorder())
    service.tick(dispatcher, now)
    jobs = {job.station_id: job for job in RolloutJob.select()}
    report(jobs["st-lobby-a"], "committed", version="0.2.0")
    service.tick(dispatcher, now)
    report(jobs["st-lobby-b"], "committed", version="0.2.0")
    report(jobs["st-lobby-c"], "rolled_back", reason="health check: broker not connected in 180 s")
    service.tick(dispatcher, now)
    username, password = create_test_operator("operations", "ops1")
    context = browser.new_context(viewport={"width": 1200, "height": 900})
    page = context.new_page()
    with serving(app) as url:
        login(page, url, username, password)
        page.goto(f"{url}/dashboard/rollouts/{rollout.rollout_id}?lang=th")
        expect(page.locator("#rollout")).to_have_attribute("data-state", "aborted")
        expect(page.locator("#wave-1")).to_have_attribute("data-state", "succeeded")
        expect(page.locator("#wave-2")).to_have_attribute("data-state", "aborted")
        expect(page.locator('#wave-2 tr[data-station="st-lobby-c"]')).to_have_attribute(
            "data-state", "rolled_back"
        )
        expect(page.locator("h1")).to_contain_text("การตั้งค่า")
        SCREENS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=SCREENS / "server-rollout-th.png", full_page=True)
        page.goto(f"{url}/dashboard/rollouts/?lang=en")
        expect(page.locator("#rollouts tbody tr")).to_have_count(1)
        page.screenshot(path=SCREENS / "server-rollouts-en.png", full_page=True)
    context.close()
