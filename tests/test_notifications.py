"""Alarms reach people: SMS through the SMS outbox, e-mail to a real SMTP server and a signed
webhook to a real HTTP receiver; once per alarm, quiet periods, maintenance windows."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from sync_server import create_app
from sync_server.dashboard import alarms
from sync_server.db import database
from sync_server.fleet.models import Station
from sync_server.notifications import maintenance, rules
from sync_server.notifications.delivery import NotificationOutbox
from sync_server.notifications.models import Notification
from sync_server.replicas.models import StationReplica
from sync_server.sms import SinkGateway
from sync_server.sms.models import SentSms, SmsOutbox
from sync_server.sms.outbox import Outbox
from tests.api_tokens import bearer
from tests.notify_sinks import SmtpSink, WebhookReceiver
from tests.operator_fixtures import create_test_operator, csrf_token, log_in

NOW = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)
LIMITS = alarms.thresholds({"ALARM_OFFLINE_AFTER_S": 600})
SECRET = b"webhook-test-secret"
STAFF_PHONE = "0899990001"  # synthetic: the on-call technician's phone


@pytest.fixture
def app(database_url: str):
    app = create_app(
        {
            "TESTING": True,
            "SECRET_KEY": "notifications-test-secret-0123456789",
            "DATABASE_URL": database_url,
        }
    )
    yield app
    database.close()


@pytest.fixture
def smtp():
    with SmtpSink() as sink:
        yield sink


@pytest.fixture
def hook():
    with WebhookReceiver(SECRET) as receiver:
        yield receiver


class Clock:
    def __init__(self, now: datetime = NOW) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def notify_config(smtp: SmtpSink | None = None, **extra: object) -> dict:
    config = {"NOTIFY_WEBHOOK_SECRET": SECRET.decode(), "NOTIFY_BACKOFF_S": 10.0, **extra}
    if smtp is not None:
        config |= {"NOTIFY_SMTP_HOST": "127.0.0.1", "NOTIFY_SMTP_PORT": smtp.port}
    return config


def put_station(station_id: str, *, paper: int = 0) -> None:
    values = {
        "presence": "online",
        "presence_at": NOW - timedelta(hours=1),
        "last_heartbeat_at": NOW,
        "metrics": json.dumps({"printer_state": paper}),
    }
    Station.insert(station_id=station_id, **values).on_conflict(
        conflict_target=[Station.station_id],
        update={getattr(Station, k): v for k, v in values.items()},
    ).execute()


def rule(channel: str, target: str, **fields: object) -> int:
    values = {"alarm_rule": "paper_out", "min_severity": "warning", "language": "en"}
    values |= {"quiet_period_s": 3600, **fields}
    return rules.create_rule(channel=channel, target=target, by="tests", **values).id  # type: ignore[arg-type]


def evaluate(at: datetime) -> dict:
    """One round of the alarm rules at ``at``, every station having just beaten."""
    Station.update(last_heartbeat_at=at).execute()
    return alarms.evaluate(at, LIMITS)


def test_an_alarm_reaches_the_sms_sink_an_smtp_server_and_a_webhook_once(app, smtp, hook):
    with database.connection_context():
        rule("sms", STAFF_PHONE, language="th")
        rule("email", "oncall@example.org")
        rule("webhook", hook.url, language="vi")
        rule("email", "tamper-only@example.org", alarm_rule="tamper")  # not this alarm
        put_station("st-a", paper=2)
        assert evaluate(NOW)["raised"] == [("st-a", "paper_out")]
        rows = list(Notification.select().order_by(Notification.id))
        assert [(n.channel, n.state) for n in rows] == [
            ("sms", "sms"),
            ("email", "pending"),
            ("webhook", "pending"),
        ]
        # The SMS was queued in the alarm's own transaction, into the citizens' SMS outbox.
        queued = SmsOutbox.get_by_id(rows[0].sms_outbox_id)
        assert queued.template == "alarm.notify" and queued.to == STAFF_PHONE

        sms = Outbox(SinkGateway(), {}, clock=Clock()).deliver_due()
        assert [d.state for d in sms] == ["sent"]
        outbox = NotificationOutbox(notify_config(smtp), clock=Clock(), jitter=lambda: 1.0)
        assert sorted(d.state for d in outbox.deliver_due()) == ["sent", "sent"]

        # Dedupe: the next evaluations of the still-open alarm tell nobody again.
        for minutes in (1, 2, 30):
            assert evaluate(NOW + timedelta(minutes=minutes))["raised"] == []
        assert Notification.select().count() == 3
        assert Outbox(SinkGateway(), {}, clock=Clock()).deliver_due() == []
        assert outbox.deliver_due() == []
        text = SentSms.get().text

    assert "st-a" in text and "2026-11-24 12:00" in text and "DCS" in text
    assert len(smtp.messages) == 1 and smtp.recipients == [["oncall@example.org"]]
    mail = smtp.messages[0]
    assert (
        str(mail["Subject"])
        .strip()
        .startswith("DCS alarm (critical): Printer out of paper at st-a")
    )
    assert "2026-11-24 12:00 UTC" in mail.get_content()
    assert len(hook.calls) == 1
    call = hook.calls[0]
    assert call["signed"], "the HMAC-SHA256 signature verifies with the shared secret"
    body = call["body"]
    assert body["station_id"] == "st-a" and body["alarm_rule"] == "paper_out"
    assert body["severity"] == "critical" and body["raised_at"] == NOW.isoformat()
    assert body["notification_id"] == int(call["delivery"])
    assert "st-a" in body["text"] and body["text"] != str(mail["Subject"]).strip()  # Vietnamese


def test_the_quiet_period_holds_back_a_flapping_alarm(app, hook):
    with database.connection_context():
        rule("webhook", hook.url, quiet_period_s=1800)
        put_station("st-a", paper=2)
        evaluate(NOW)
        for minutes, paper in ((5, 0), (6, 2), (7, 0), (8, 2)):  # paper out, in, out...
            put_station("st-a", paper=paper)
            evaluate(NOW + timedelta(minutes=minutes))
        states = [(n.state, n.reason) for n in Notification.select().order_by(Notification.id)]
        assert states == [("pending", None), ("suppressed", "quiet"), ("suppressed", "quiet")]
        # Past the quiet period the recipient hears of it again.
        put_station("st-a", paper=0)
        evaluate(NOW + timedelta(minutes=40))
        put_station("st-a", paper=2)
        evaluate(NOW + timedelta(minutes=41))
        last = Notification.select().order_by(Notification.id.desc()).get()
        assert (last.state, last.reason) == ("pending", None)
        outbox = NotificationOutbox(notify_config(), clock=Clock(NOW + timedelta(minutes=41)))
        assert [d.state for d in outbox.deliver_due()] == ["sent", "sent"]
    assert len(hook.calls) == 2


def test_a_maintenance_window_silences_a_station_and_a_building(app, hook):
    with database.connection_context():
        rule("webhook", hook.url, alarm_rule="*", quiet_period_s=0)
        StationReplica.create(station_id="st-b", building="bldg-7", public_key=b"k" * 32)
        maintenance.create(
            station_id="st-a",
            building=None,
            starts_at=NOW - timedelta(minutes=5),
            ends_at=NOW + timedelta(hours=1),
            reason="printer replaced",
            by="tests",
        )
        maintenance.create(
            station_id=None,
            building="bldg-7",
            starts_at=NOW - timedelta(minutes=5),
            ends_at=NOW + timedelta(hours=1),
            reason="lift works",
            by="tests",
        )
        for station_id in ("st-a", "st-b", "st-c"):
            put_station(station_id, paper=2)
        evaluate(NOW)
        told = {n.station_id: (n.state, n.reason) for n in Notification.select()}
        assert told == {
            "st-a": ("suppressed", "maintenance"),
            "st-b": ("suppressed", "maintenance"),
            "st-c": ("pending", None),
        }
        # The alarms are on the dashboard all the same.
        assert {a.station_id for a in alarms.open_alarms()} == {"st-a", "st-b", "st-c"}
        # After the window, a new alarm is told again.
        put_station("st-a", paper=0)
        evaluate(NOW + timedelta(minutes=61))
        put_station("st-a", paper=2)
        evaluate(NOW + timedelta(minutes=62))
        last = Notification.select().order_by(Notification.id.desc()).get()
        assert (last.station_id, last.state) == ("st-a", "pending")


def test_webhook_retries_with_backoff_and_a_refusal_fails_at_once(app):
    clock = Clock()
    with WebhookReceiver(SECRET, statuses=[503, 502]) as flaky, database.connection_context():
        rule("webhook", flaky.url)
        put_station("st-a", paper=2)
        evaluate(NOW)
        outbox = NotificationOutbox(notify_config(), clock=clock, jitter=lambda: 1.0)
        assert [d.state for d in outbox.deliver_due()] == ["pending"]
        row = Notification.get()
        assert row.last_error == "HTTP 503" and row.attempts == 1
        assert outbox.deliver_due() == []  # not due before its backoff (10 s)
        clock.now += timedelta(seconds=10)
        assert [d.state for d in outbox.deliver_due()] == ["pending"]  # 502
        clock.now += timedelta(seconds=19)
        assert outbox.deliver_due() == []  # the second wait is twice as long
        clock.now += timedelta(seconds=1)
        assert [d.state for d in outbox.deliver_due()] == ["sent"]
        assert Notification.get().attempts == 3 and len(flaky.calls) == 3
        assert all(call["signed"] for call in flaky.calls)
    with WebhookReceiver(SECRET, statuses=[410]) as gone, database.connection_context():
        rule("webhook", gone.url, alarm_rule="tamper")
        put_station("st-t", paper=0)
        Station.update(metrics=json.dumps({"tamper_open": 1})).where(
            Station.station_id == "st-t"
        ).execute()
        evaluate(NOW)
        assert [(d.state, d.error) for d in outbox.deliver_due()] == [("failed", "HTTP 410")]


def test_an_unreachable_mail_server_is_retried_not_lost(app):
    with database.connection_context():
        rule("email", "oncall@example.org")
        put_station("st-a", paper=2)
        evaluate(NOW)
        down = SmtpSink()  # its port is free: nothing listens yet
        outbox = NotificationOutbox(notify_config(down), clock=Clock(), jitter=lambda: 1.0)
        [delivery] = outbox.deliver_due()
        assert delivery.state == "pending" and "SMTP" in (delivery.error or "")
        with down:
            outbox._clock = Clock(NOW + timedelta(minutes=1))
            assert [d.state for d in outbox.deliver_due()] == ["sent"]
        assert len(down.messages) == 1


def test_rules_refuse_bad_recipients(app):
    with database.connection_context():
        for channel, target in (
            ("sms", "12345"),
            ("email", "not-an-address"),
            ("webhook", "ftp://x"),
            ("pager", "x"),
        ):
            with pytest.raises(rules.RuleError):
                rule(channel, target)
        with pytest.raises(rules.RuleError):
            rule("email", "a@b.org", alarm_rule="no-such-rule")


def test_operations_set_rules_and_windows_from_the_dashboard(app, hook):
    officer, password = create_test_operator("officer")
    assert (
        log_in(app.test_client(), officer, password).get("/dashboard/notifications").status_code
        == 403
    )
    ops, ops_password = create_test_operator("operations")
    client = log_in(app.test_client(), ops, ops_password)
    page = client.get("/dashboard/notifications")
    assert page.status_code == 200
    token = csrf_token(page.text)
    added = client.post(
        "/dashboard/notifications/rules",
        data={
            "csrf_token": token,
            "alarm_rule": "paper_out",
            "min_severity": "critical",
            "channel": "webhook",
            "target": hook.url,
            "language": "th",
            "quiet_minutes": "15",
        },
    )
    assert added.status_code == 303
    window = client.post(
        "/dashboard/maintenance",
        data={
            "csrf_token": token,
            "station_id": "st-a",
            "minutes": "90",
            "reason": "cleaning the printer",
        },
    )
    assert window.status_code == 303
    refused = client.post(
        "/dashboard/maintenance",
        data={"csrf_token": token, "minutes": "90", "reason": "no subject"},
    )
    assert refused.status_code == 303
    page = client.get("/dashboard/notifications").text
    assert hook.url in page and "cleaning the printer" in page
    with database.connection_context():
        [saved] = rules.all_rules()
        assert (saved.min_severity, saved.quiet_period_s, saved.created_by) == (
            "critical",
            900,
            ops,
        )
        [open_window] = maintenance.current_and_future()
        assert open_window.station_id == "st-a" and open_window.created_by == ops
    ended = client.post(f"/dashboard/maintenance/{open_window.id}/end", data={"csrf_token": token})
    assert ended.status_code == 303
    with database.connection_context():
        assert maintenance.current_and_future() == []


def test_maintenance_windows_through_the_api(app):
    client = app.test_client()
    with app.app_context():
        writer = bearer("maintenance:write", "stations:read")
        reader = bearer("stations:read")
    body = {"subject": "building:bldg-7", "minutes": 120, "reason": "power work"}
    assert client.post("/api/v1/maintenance-windows", json=body, headers=reader).status_code == 403
    created = client.post("/api/v1/maintenance-windows", json=body, headers=writer)
    assert created.status_code == 201, created.json
    assert created.json["building"] == "bldg-7" and created.json["created_by"].startswith("api:")
    wrong_ones = (
        {"subject": "st-a"},
        {"minutes": 60 * 24 * 32},
        {"reason": "  "},
        {"reason": "\x00"},  # PostgreSQL refuses NUL: a clear 422, never a 500
        {"reason": "bell\x07"},
    )
    for wrong in wrong_ones:
        refused = client.post("/api/v1/maintenance-windows", json=body | wrong, headers=writer)
        assert refused.status_code == 422, wrong
    assert created.json["ends_at"] > created.json["starts_at"]
    listed = client.get("/api/v1/maintenance-windows", headers=reader).json["windows"]
    assert [w["id"] for w in listed] == [created.json["id"]]
    window_id = created.json["id"]
    ended = client.post(f"/api/v1/maintenance-windows/{window_id}/end", headers=writer)
    assert ended.status_code == 200
    assert client.get("/api/v1/maintenance-windows", headers=reader).json["windows"] == []
    with app.app_context(), pytest.raises(maintenance.MaintenanceError, match="control"):
        maintenance.create(
            station_id="st-a",
            building=None,
            starts_at=datetime.now(UTC),
            ends_at=datetime.now(UTC) + timedelta(minutes=5),
            reason="cut\x00here",
            by="test",
        )
    for unknown in (999, 2**63):
        missing = client.post(f"/api/v1/maintenance-windows/{unknown}/end", headers=writer)
        assert missing.status_code == 404


def test_a_station_out_of_paper_reaches_the_sms_sink_webhook_and_mail_end_to_end(
    tmp_path, broker, server_app, ingest, smtp, hook
):
    """A real station's printer runs out of paper: its heartbeat reaches the ingest, the alarm
    worker raises the alarm, the SMS worker texts the sink, the notify worker mails and posts."""
    import msgspec

    from device.station import build_station
    from hardware.printer import PrinterConfig
    from hardware.printer.config import VirtualConfig
    from hardware.printer.virtual import VirtualPrinter
    from sync_server.dashboard.worker import AlarmWorker
    from sync_server.notifications.delivery import NotifyWorker
    from sync_server.sms.outbox import OutboxWorker
    from tests.conftest import station_config
    from tests.helpers import wait_until

    config = dict(server_app.config) | notify_config(smtp) | {"ALARM_POLL_S": 0.1}
    with database.connection_context():
        rule("sms", STAFF_PHONE, language="th")
        rule("webhook", hook.url)
        rule("email", "oncall@example.org")
    with VirtualPrinter(tmp_path / "spool", control_port=None) as printer:
        host, port = printer.address
        station = build_station(
            msgspec.structs.replace(
                station_config(tmp_path, broker),
                printer=PrinterConfig(
                    backend="virtual", virtual=VirtualConfig(host=host, port=port)
                ),
            ),
            devices=True,
        )
        station.start()
        try:
            with (
                AlarmWorker(database.obj, config) as alarm_worker,
                OutboxWorker(Outbox(SinkGateway(), config), poll_s=0.05),
                NotifyWorker(NotificationOutbox(config), poll_s=0.05),
            ):
                printer.set_state("paper-out")

                def texted() -> list[SentSms]:
                    with database.connection_context():
                        return list(SentSms.select())

                [sms] = wait_until(texted, "the SMS at the sink")
                wait_until(lambda: hook.calls and smtp.messages, "the webhook and the e-mail")
                assert sms.to == STAFF_PHONE and "st-a" in sms.text
                assert (
                    hook.calls[0]["signed"] and hook.calls[0]["body"]["alarm_rule"] == "paper_out"
                )
                assert "Printer out of paper at st-a" in str(smtp.messages[0]["Subject"])
                # The alarm stays open over many rounds: nobody hears of it twice.
                seen = alarm_worker.rounds
                wait_until(lambda: alarm_worker.rounds >= seen + 5, "five more rounds")
                with database.connection_context():
                    told = Notification.select().count()
        finally:
            station.close()
    assert told == 3 and len(smtp.messages) == 1 and len(texted()) == 1 and len(hook.calls) == 1
