"""003: a station can be quarantined (``station.quarantined_at``, ``quarantine_reason``).

Set by the per-station budgets (``sync_server/budgets``) when a station keeps asking past
them; while set, the station is refused lookups, service requests and replicas until an
operator lifts it. Existing stations are not quarantined (both columns null).
"""

import peewee as pw
from peewee_migrate import Migrator


def migrate(migrator: Migrator, database: pw.Database, *, fake: bool = False) -> None:
    """Add ``station.quarantined_at`` and ``station.quarantine_reason``."""
    migrator.add_fields(
        "station",
        quarantined_at=pw.DateTimeField(null=True),
        quarantine_reason=pw.CharField(max_length=200, null=True),
    )
