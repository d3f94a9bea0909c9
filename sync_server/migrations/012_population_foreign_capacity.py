"""012: the population register knows foreigners and people without legal capacity.

``populationrecord.nationality`` (ISO 3166-1 alpha-2; ``TH`` for a Thai national) and
``passport_number`` (a foreigner's passport, matched by seed 001's level-1 registration as the
immigration database would be), and ``legal_capacity`` (false: a court has put the person
under guardianship, so their e-ID account is registered through their guardian's, whatever
their age). Existing records are Thai nationals with legal capacity and no passport.
"""

import peewee as pw
from peewee_migrate import Migrator


def migrate(migrator: Migrator, database: pw.Database, *, fake: bool = False) -> None:
    """Add ``nationality``, ``passport_number`` and ``legal_capacity`` to the register."""
    # NOT NULL with a default in the DDL, added in one ALTER: peewee's usual way (add nullable,
    # fill, then NOT NULL) rebuilds the table on SQLite, and dropping the old one breaks the
    # foreign keys of ``identityaccount`` and ``guardianship`` that point at it.
    migrator.add_fields(
        "populationrecord",
        allow_not_null=True,
        nationality=pw.CharField(max_length=2, default="TH", constraints=[pw.SQL("DEFAULT 'TH'")]),
        legal_capacity=pw.BooleanField(default=True, constraints=[pw.SQL("DEFAULT TRUE")]),
    )
    migrator.add_fields("populationrecord", passport_number=pw.CharField(max_length=20, null=True))
