"""007: staged rollouts (``sync_server/rollouts``): releases, rollouts, waves, station jobs.

A release is registered with its manifest (signature verified on upload) and the files it
names; a rollout sends a release or a configuration change to a fixed set of stations in
waves, one job per station. New tables only; nothing existing changes.
"""

import peewee as pw
from peewee_migrate import Migrator


def migrate(migrator: Migrator, database: pw.Database, *, fake: bool = False) -> None:
    """Create the release registry and the rollout tables."""

    @migrator.create_model
    class Release(pw.Model):
        id = pw.AutoField()
        version = pw.CharField(max_length=64, unique=True)
        arch = pw.CharField(max_length=32)
        python = pw.CharField(max_length=16)
        manifest_id = pw.CharField(max_length=64)
        manifest_size = pw.IntegerField()
        manifest_signature = pw.BlobField()
        total_bytes = pw.BigIntegerField()
        uploaded_at = pw.DateTimeField()
        uploaded_by = pw.CharField(max_length=64)

        class Meta:
            table_name = "release"

    @migrator.create_model
    class ReleaseFile(pw.Model):
        id = pw.AutoField()
        release = pw.ForeignKeyField(
            column_name="release_id", field="id", model=migrator.orm["release"], on_delete="CASCADE"
        )
        file_id = pw.CharField(index=True, max_length=64)
        name = pw.CharField(max_length=200)
        size = pw.BigIntegerField()

        class Meta:
            table_name = "releasefile"
            indexes = [(("release", "file_id"), True)]

    @migrator.create_model
    class Rollout(pw.Model):
        rollout_id = pw.CharField(max_length=36, primary_key=True)
        kind = pw.CharField(max_length=16)
        release = pw.ForeignKeyField(
            column_name="release_id",
            field="id",
            model=migrator.orm["release"],
            null=True,
            on_delete="RESTRICT",
        )
        config = pw.TextField(null=True)
        target = pw.TextField()
        success_pct = pw.FloatField()
        abort_pct = pw.FloatField()
        min_executed = pw.IntegerField(default=1)
        deadline = pw.DateTimeField()
        health_timeout_s = pw.FloatField(default=180.0)
        state = pw.CharField(default="running", index=True, max_length=16)
        reason = pw.CharField(max_length=200, null=True)
        created_at = pw.DateTimeField()
        created_by = pw.CharField(max_length=64)
        finished_at = pw.DateTimeField(null=True)

        class Meta:
            table_name = "rollout"

    @migrator.create_model
    class RolloutWave(pw.Model):
        id = pw.AutoField()
        rollout = pw.ForeignKeyField(
            column_name="rollout_id",
            field="rollout_id",
            model=migrator.orm["rollout"],
            on_delete="CASCADE",
        )
        number = pw.IntegerField()
        state = pw.CharField(default="pending", max_length=16)
        started_at = pw.DateTimeField(null=True)
        finished_at = pw.DateTimeField(null=True)

        class Meta:
            table_name = "rolloutwave"
            indexes = [(("rollout", "number"), True)]

    @migrator.create_model
    class RolloutJob(pw.Model):
        job_id = pw.CharField(max_length=36, primary_key=True)
        rollout = pw.ForeignKeyField(
            column_name="rollout_id",
            field="rollout_id",
            model=migrator.orm["rollout"],
            on_delete="CASCADE",
        )
        wave = pw.ForeignKeyField(
            column_name="wave_id",
            field="id",
            model=migrator.orm["rolloutwave"],
            on_delete="CASCADE",
        )
        station_id = pw.CharField(index=True, max_length=32)
        state = pw.CharField(default="pending", index=True, max_length=16)
        reason = pw.CharField(max_length=200, null=True)
        version = pw.CharField(max_length=64, null=True)
        sent_at = pw.DateTimeField(null=True)
        times_sent = pw.IntegerField(default=0)
        updated_at = pw.DateTimeField(null=True)
        bytes_served = pw.BigIntegerField(default=0)
        rollback_job_id = pw.CharField(max_length=36, null=True, unique=True)
        rollback_state = pw.CharField(max_length=16, null=True)

        class Meta:
            table_name = "rolloutjob"
            indexes = [(("rollout", "station_id"), True)]
