"""Seeding the master records with synthetic residents (demo, tests, load)."""

from __future__ import annotations

from datetime import date

from provisioning.synthetic import residents


def seed_insured(count: int, seed: int = 2026, as_of: date | None = None) -> int:
    """Insert ``count`` synthetic insured persons into the bound server database."""
    from sync_server.db import database
    from sync_server.models import InsuredPerson

    as_of = as_of or date.today()
    rows = [
        {
            "citizen_id": r.citizen_id,
            "full_name_th": r.full_name_th,
            "full_name_en": r.full_name_en,
            "status": r.status,
            "hospital": r.hospital,
            "contributions_baht": r.contributions_baht,
            "contributions_count": r.contributions_count,
            "benefits_baht": r.benefits_baht,
            "benefits_count": r.benefits_count,
            "old_age_savings_baht": r.old_age_savings_baht,
            "building": r.building,
            "as_of": as_of,
        }
        for r in residents(count, seed)
    ]
    with database.atomic():
        for start in range(0, len(rows), 500):
            InsuredPerson.insert_many(rows[start : start + 500]).on_conflict_ignore().execute()
    return len(rows)
