"""005: notifications and the ops pack.

- ``notificationrule``, ``maintenancewindow``, ``notification``: alarms told to people by SMS,
  e-mail or webhook, silenced by maintenance windows (``sync_server/notifications``);
- ``heartbeatsample``: the stations' heartbeat gauges kept for the charts (``fleet/history.py``);
- ``workerheartbeat``: each worker's last sign of life, for ``/readyz`` (``sync_server/ops``).

New tables only: existing rows are untouched.
"""

import peewee as pw
from peewee_migrate import Migrator


def migrate(migrator: Migrator, database: pw.Database, *, fake: bool = False) -> None:
    """Create the five tables."""

    @migrator.create_model
    class HeartbeatSample(pw.Model):
        id = pw.BigAutoField()
        station_id = pw.CharField(max_length=32)
        bucket_at = pw.DateTimeField(index=True)
        received_at = pw.DateTimeField()
        backlog = pw.IntegerField()
        oldest_undelivered_age_s = pw.FloatField(null=True)
        printer_state = pw.SmallIntegerField(null=True)
        disk_free_pct = pw.FloatField(null=True)
        tamper_open = pw.BooleanField(null=True)
        software_version = pw.CharField(max_length=64, null=True)

        class Meta:
            table_name = "heartbeatsample"
            indexes = [(("station_id", "bucket_at"), True)]

    @migrator.create_model
    class NotificationRule(pw.Model):
        id = pw.AutoField()
        alarm_rule = pw.CharField(max_length=32)
        min_severity = pw.CharField(max_length=16, default="warning")
        channel = pw.CharField(max_length=16)
        target = pw.CharField(max_length=200)
        language = pw.CharField(max_length=8, default="th")
        quiet_period_s = pw.IntegerField(default=3600)
        enabled = pw.BooleanField(default=True)
        created_by = pw.CharField(max_length=64)
        created_at = pw.DateTimeField()

        class Meta:
            table_name = "notificationrule"

    @migrator.create_model
    class MaintenanceWindow(pw.Model):
        id = pw.AutoField()
        station_id = pw.CharField(max_length=32, null=True, index=True)
        building = pw.CharField(max_length=64, null=True)
        starts_at = pw.DateTimeField()
        ends_at = pw.DateTimeField(index=True)
        reason = pw.CharField(max_length=200)
        created_by = pw.CharField(max_length=64)
        created_at = pw.DateTimeField()

        class Meta:
            table_name = "maintenancewindow"

    @migrator.create_model
    class Notification(pw.Model):
        id = pw.BigAutoField()
        alarm_id = pw.IntegerField(index=True)
        rule_id = pw.IntegerField()
        station_id = pw.CharField(max_length=32)
        alarm_rule = pw.CharField(max_length=32)
        severity = pw.CharField(max_length=16)
        channel = pw.CharField(max_length=16)
        dedupe_key = pw.CharField(max_length=48, unique=True)
        state = pw.CharField(max_length=16)
        reason = pw.CharField(max_length=16, null=True)
        attempts = pw.SmallIntegerField(default=0)
        next_attempt_at = pw.DateTimeField()
        created_at = pw.DateTimeField(index=True)
        finished_at = pw.DateTimeField(null=True)
        sms_outbox_id = pw.BigIntegerField(null=True)
        last_error = pw.CharField(max_length=200, null=True)

        class Meta:
            table_name = "notification"
            indexes = [
                (("state", "next_attempt_at"), False),
                (("rule_id", "station_id", "alarm_rule", "created_at"), False),
            ]

    @migrator.create_model
    class WorkerHeartbeat(pw.Model):
        worker = pw.CharField(max_length=64, primary_key=True)
        kind = pw.CharField(max_length=32, index=True)
        beat_at = pw.DateTimeField()
        started_at = pw.DateTimeField()
        host = pw.CharField(max_length=64)
        pid = pw.IntegerField()

        class Meta:
            table_name = "workerheartbeat"
