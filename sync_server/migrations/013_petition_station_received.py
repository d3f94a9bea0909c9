"""013: petitions are counted per station over a recent window.

The ingest counts, for every station in a batch, the petitions it filed in the last hour and
day (the ``sms.filing`` budget, ``sync_server/petitions/filing.py``). The index on
``station_id`` alone made each count read every petition the station ever filed; one on
``(station_id, received_at)`` reads only the window, and serves the lookups by station too,
so it replaces the old one (the same number of indexes to keep up on every insert).
"""

import peewee as pw
from peewee_migrate import Migrator


def migrate(migrator: Migrator, database: pw.Database, *, fake: bool = False) -> None:
    """Index petitions by station and arrival; drop the station-only index."""
    migrator.add_index("petition", "station_id", "received_at")
    migrator.drop_index("petition", "station_id")
