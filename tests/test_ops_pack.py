"""The ops pack: readiness from the workers' heartbeats, the heartbeat history, and the
Prometheus alert rules and Grafana dashboard in docs/ops/ against what /metrics exports."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from datetime import timedelta
from pathlib import Path

import yaml
from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from sync_server.dashboard.worker import AlarmWorker
from sync_server.db import database, utc_now
from sync_server.fleet import history
from sync_server.fleet.models import HeartbeatSample, Station
from sync_server.metrics import build_registry
from sync_server.notifications.delivery import NotificationOutbox, NotifyWorker
from sync_server.ops import readiness
from sync_server.ops.beats import Beater, beat
from sync_server.ops.models import WorkerHeartbeat
from sync_server.sms import SinkGateway
from sync_server.sms.outbox import Outbox, OutboxWorker
from tests.helpers import wait_until
from tests.operator_fixtures import create_test_operator, log_in

OPS = Path(__file__).resolve().parents[1] / "docs" / "ops"
PROMTOOL = shutil.which("promtool") or "/usr/bin/promtool"
METRIC = re.compile(r"\bdcs_[a-z_]+\b")


def exported_metrics(app) -> set[str]:
    """Every family and sample name /metrics serves, with a populated database."""
    with database.connection_context():
        Station.create(
            station_id="st-a",
            presence="online",
            last_heartbeat_at=utc_now(),
            metrics=json.dumps({"printer_state": 0, "tamper_open": 0, "watchdog_resets": 1}),
        )
        beat("sms")
        text = generate_latest(build_registry()).decode()
    names = set()
    for family in text_string_to_metric_families(text):
        names.add(family.name)
        names.update(sample.name for sample in family.samples)
    return names


def test_alert_rules_pass_promtool_and_use_only_exported_metrics(server_app):
    exported = exported_metrics(server_app)
    check = subprocess.run(
        [PROMTOOL, "check", "rules", str(OPS / "prometheus-alerts.yml")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert check.returncode == 0, check.stdout + check.stderr
    assert "SUCCESS: 14 rules found" in check.stdout
    unit = subprocess.run(
        [PROMTOOL, "test", "rules", "prometheus-alerts.test.yml"],
        cwd=OPS,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert unit.returncode == 0, unit.stdout + unit.stderr
    rules = yaml.safe_load((OPS / "prometheus-alerts.yml").read_text())
    for group in rules["groups"]:
        for rule in group["rules"]:
            used = set(METRIC.findall(rule["expr"]))
            assert used, f"{rule['alert']} uses no server metric"
            assert used <= exported, f"{rule['alert']}: {used - exported} are not exported"


def test_the_grafana_dashboard_has_a_valid_shape_and_only_exported_metrics(server_app):
    exported = exported_metrics(server_app)
    dashboard = json.loads((OPS / "grafana-dashboard.json").read_text())
    assert {"title", "uid", "schemaVersion", "panels", "templating", "time"} <= set(dashboard)
    assert isinstance(dashboard["schemaVersion"], int) and dashboard["schemaVersion"] >= 30
    ids = [panel["id"] for panel in dashboard["panels"]]
    assert len(ids) == len(set(ids)) >= 10
    for panel in dashboard["panels"]:
        assert panel["type"] in ("stat", "timeseries", "table", "gauge", "bargauge")
        assert panel["title"]
        grid = panel["gridPos"]
        assert grid["w"] > 0 and grid["h"] > 0 and grid["x"] >= 0 and grid["x"] + grid["w"] <= 24
        assert panel["targets"], f"panel {panel['title']} has no query"
        for target in panel["targets"]:
            used = set(METRIC.findall(target["expr"]))
            assert used, f"panel {panel['title']} queries no server metric"
            assert used <= exported, f"panel {panel['title']}: {used - exported} not exported"
    for variable in dashboard["templating"]["list"]:
        if variable["type"] == "query":
            assert set(METRIC.findall(variable["definition"])) <= exported


def test_readiness_names_the_stale_worker(server_app, ingest):
    """Real workers beat; /readyz is green; a worker that stops goes stale and is named."""
    config = dict(server_app.config)
    alarm_worker = AlarmWorker(database.obj, config, broker_probe=lambda: True)
    client = server_app.test_client()
    with (
        OutboxWorker(Outbox(SinkGateway(), config), poll_s=0.05) as sms,
        NotifyWorker(NotificationOutbox(config), poll_s=0.05),
        alarm_worker,
    ):

        def kinds() -> set[str]:
            with database.connection_context():
                return {row.kind for row in WorkerHeartbeat.select()}

        wait_until(lambda: kinds() == {"ingest", "alarms", "sms", "notify"}, "every worker")
        ready = client.get("/readyz")
        assert ready.status_code == 200, ready.json
        assert ready.json["status"] == "ready" and ready.json["failing"] == []
        assert set(ready.json["checks"]) == {
            "database",
            "broker",
            "worker:ingest",
            "worker:alarms",
            "worker:sms",
            "worker:notify",
        }
        sms.__exit__(None, None, None)  # the SMS worker stops...
        with database.connection_context():
            # ...and, as a minute passes, its last beat grows old.
            WorkerHeartbeat.update(beat_at=utc_now() - timedelta(minutes=1)).where(
                WorkerHeartbeat.kind == "sms"
            ).execute()
        answer = client.get("/readyz")
        assert answer.status_code == 503
        assert answer.json["failing"] == ["worker:sms"]
        assert answer.json["checks"]["worker:sms"]["age_s"] >= 60


def test_readiness_fails_on_a_broker_that_does_not_answer(server_app):
    now = utc_now()
    worker = AlarmWorker(
        database.obj, server_app.config, broker_probe=lambda: False, clock=lambda: now
    )
    worker.run_once()
    with database.connection_context():
        for kind in ("ingest", "sms", "notify"):
            beat(kind, now)
        result = readiness.check(server_app.config, now)
    assert result.failing == ["broker"]
    assert result.checks["broker"]["down_since"] == now.isoformat()


def test_a_beater_writes_at_most_once_per_interval(server_app):
    times = iter([utc_now() + timedelta(seconds=s) for s in (0, 0, 3, 9, 10, 25)])
    beater = Beater("notify", 10, clock=lambda: next(times))
    assert [beater() for _ in range(5)] == [True, False, False, True, True]


def test_heartbeats_are_kept_as_history_and_charted(server_app, ingest, station_factory):
    """A real station's heartbeats (every 0.5 s) land in five-minute slots with its gauges."""
    station_factory()
    [first] = wait_until(lambda: _samples("st-a"), "a heartbeat sample")
    later = wait_until(
        lambda: [s for s in _samples("st-a") if s.received_at > first.received_at],
        "a later heartbeat",
    )
    samples = _samples("st-a")
    # Many heartbeats, one row per slot (two when the test ran across a slot's end).
    assert 1 <= len(samples) <= 2 and later[-1].bucket_at >= first.bucket_at
    sample = samples[-1]
    assert sample.backlog == 0 and sample.software_version
    ops, password = create_test_operator("operations")
    page = log_in(server_app.test_client(), ops, password).get("/dashboard/stations/st-a").text
    assert 'id="heartbeat-history"' in page and page.count("<svg") >= 6
    assert sample.software_version in page
    with database.connection_context():
        assert history.purge(utc_now(), days=1) == 0  # nothing is a day old yet
        assert history.purge(utc_now() + timedelta(days=31)) >= len(samples)


def _samples(station_id: str) -> list[HeartbeatSample]:
    with database.connection_context():
        query = HeartbeatSample.select().where(HeartbeatSample.station_id == station_id)
        return list(query.order_by(HeartbeatSample.bucket_at))
