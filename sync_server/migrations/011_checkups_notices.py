"""011: check-up bookings and public notices (issue 14, items 3 and 4).

- ``checkupbooking``: check-ups booked at stations; ``active_slot`` and ``active_citizen``
  are unique (NULL once cancelled), so a slot is never booked twice and a resident holds one
  booking at a time (``sync_server/checkups``);
- ``publicnotice``: notices operations publish to the stations (``sync_server/notices``).

New tables only: existing rows are untouched.
"""

import peewee as pw
from peewee_migrate import Migrator


def migrate(migrator: Migrator, database: pw.Database, *, fake: bool = False) -> None:
    """Create the two tables."""

    @migrator.create_model
    class CheckupBooking(pw.Model):
        id = pw.AutoField()
        ref = pw.CharField(max_length=8, unique=True)
        clinic = pw.CharField(max_length=32)
        slot = pw.CharField(max_length=100)
        starts_at = pw.DateTimeField()
        ends_at = pw.DateTimeField()
        citizen_id = pw.CharField(max_length=13, index=True)
        station_id = pw.CharField(max_length=32)
        language = pw.CharField(max_length=8, null=True)
        state = pw.CharField(max_length=16)
        clinic_ref = pw.CharField(max_length=64, null=True)
        video_url = pw.CharField(max_length=300, null=True)
        active_slot = pw.CharField(max_length=100, null=True, unique=True)
        active_citizen = pw.CharField(max_length=13, null=True, unique=True)
        created_at = pw.DateTimeField()
        cancelled_at = pw.DateTimeField(null=True)

        class Meta:
            table_name = "checkupbooking"

    @migrator.create_model
    class PublicNotice(pw.Model):
        id = pw.AutoField()
        notice_id = pw.CharField(max_length=32, unique=True)
        scope = pw.CharField(max_length=16)
        district = pw.CharField(max_length=64, null=True)
        buildings = pw.CharField(max_length=2000, default="")
        starts_at = pw.DateTimeField()
        ends_at = pw.DateTimeField(index=True)
        title_th = pw.CharField(max_length=120)
        body_th = pw.TextField(default="")
        title_vi = pw.CharField(max_length=120)
        body_vi = pw.TextField(default="")
        title_en = pw.CharField(max_length=120)
        body_en = pw.TextField(default="")
        created_by = pw.CharField(max_length=64)
        created_at = pw.DateTimeField()
        published_at = pw.DateTimeField(null=True)
        withdrawn_at = pw.DateTimeField(null=True)
        withdrawn_by = pw.CharField(max_length=64, null=True)

        class Meta:
            table_name = "publicnotice"
