"""Seeding a server's master records with synthetic residents (tests, demo): never real people.

The residents of :mod:`devtools.residents` go through the product's own import
(``sync_server.records.residents_import``) with their lines in memory instead of a file: what
``dcs-server records import`` does with an exported file. Residents already there are left
as they are, so seeding twice with the same seed changes nothing.
"""

from __future__ import annotations

from datetime import date

from devtools.residents import synthetic_residents
from sync_server.records.residents_file import encode_line
from sync_server.records.residents_import import import_residents


def seed_records(
    count: int, seed: int = 2026, as_of: date | None = None, buildings: int = 4
) -> int:
    """Import ``count`` synthetic residents with full records into the bound database;
    returns how many were new."""
    lines = [encode_line(r) for r in synthetic_residents(count, seed, buildings, as_of)]
    return import_residents(lines).added
