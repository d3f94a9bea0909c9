"""004: the population register's parent and guardian links (``guardianship``).

A child under 14 (or a person without legal capacity) has their e-ID account registered
through a parent's or guardian's account (seed 001); this table says who those are, and the
registration checks it. Existing databases start with no links: a child's e-ID registration
is refused until the residents import (or the register) supplies the link.
"""

import peewee as pw
from peewee_migrate import Migrator


def migrate(migrator: Migrator, database: pw.Database, *, fake: bool = False) -> None:
    """Create ``guardianship``."""

    @migrator.create_model
    class Guardianship(pw.Model):
        id = pw.BigAutoField()
        child = pw.ForeignKeyField(
            column_name="child_citizen_id",
            field="citizen_id",
            model=migrator.orm["populationrecord"],
            on_delete="CASCADE",
            index=False,
            backref="guardianships",
        )
        guardian = pw.ForeignKeyField(
            column_name="guardian_citizen_id",
            field="citizen_id",
            model=migrator.orm["populationrecord"],
            on_delete="CASCADE",
            backref="guardianships_held",
        )
        relation = pw.CharField(max_length=16)
        since = pw.DateField(null=True)

        class Meta:
            table_name = "guardianship"
            indexes = [(("child", "guardian"), True)]
