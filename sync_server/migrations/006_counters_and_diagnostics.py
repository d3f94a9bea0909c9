"""006: each station's highest applied petition serial; diagnostics bundles from stations.

``petitionserial`` lets a replacement station continue its numbering (``dcs-provision station
replace``) and the ingest refuse a serial far past it. It is filled here from the petitions
already on record: the highest number of each station (numbers of one station differ only
in their fixed-width serial, so the greatest number carries the greatest serial).
``diagnosticspart`` and ``diagnosticsbundle`` hold the bundles stations upload in answer to
``collect_diagnostics`` (``sync_server/diagnostics``); none exist yet.
"""

import datetime as dt
import re

import peewee as pw
from peewee_migrate import Migrator


def migrate(migrator: Migrator, database: pw.Database, *, fake: bool = False) -> None:
    """Create the three tables and fill ``petitionserial`` from ``petition``."""

    @migrator.create_model
    class PetitionSerial(pw.Model):
        station_id = pw.CharField(max_length=32, primary_key=True)
        highest = pw.IntegerField()
        updated_at = pw.DateTimeField()

        class Meta:
            table_name = "petitionserial"

    @migrator.create_model
    class DiagnosticsPart(pw.Model):
        command_id = pw.CharField(max_length=36)
        part = pw.IntegerField()
        parts = pw.IntegerField()
        sha256 = pw.CharField(max_length=64)
        data = pw.BlobField()
        received_at = pw.DateTimeField()

        class Meta:
            table_name = "diagnosticspart"
            primary_key = pw.CompositeKey("command_id", "part")

    @migrator.create_model
    class DiagnosticsBundle(pw.Model):
        command_id = pw.CharField(max_length=36, primary_key=True)
        station_id = pw.CharField(max_length=32, index=True)
        received_at = pw.DateTimeField(index=True)
        size = pw.IntegerField()
        sha256 = pw.CharField(max_length=64)
        content = pw.BlobField()

        class Meta:
            table_name = "diagnosticsbundle"

    migrator.run(_fill_serials, migrator, database)


_SERIAL = re.compile(r"-([0-9]{7})-[A-Z0-9]$")


def _fill_serials(migrator: Migrator, database: pw.Database) -> None:
    petition = migrator.orm["petition"]
    serials = migrator.orm["petitionserial"]
    now = dt.datetime.now(dt.UTC)
    query = petition.select(petition.station_id, pw.fn.MAX(petition.number)).group_by(
        petition.station_id
    )
    rows = []
    for station_id, number in query.tuples().execute(database):
        serial = _SERIAL.search(number or "")
        if serial is not None:  # anything else is no petition number this code made
            rows.append(
                {"station_id": station_id, "highest": int(serial.group(1)), "updated_at": now}
            )
    for start in range(0, len(rows), 500):
        serials.insert_many(rows[start : start + 500]).execute(database)
