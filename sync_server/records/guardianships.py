"""The population register's parent and guardian links (:class:`models.Guardianship`).

Seed 001: a child under 14 (or a person without legal capacity) gets an e-ID account only
through the account of a parent or guardian, and :func:`is_guardian_of` is what says who
that is. The residents import writes the links with :func:`write_links`.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date
from typing import NamedTuple

import peewee

from sync_server.records.bulk import bulk_insert
from sync_server.records.models import Guardianship, PopulationRecord
from sync_server.records.residents_file import Resident

LINK_COLUMNS = ("child", "guardian", "relation", "since")
#: Ids a query: well below every database's limit on bound parameters.
ID_BATCH = 500


class LinkRow(NamedTuple):
    """One link to write: ``guardian`` is a parent or guardian of ``child``."""

    child: str
    guardian: str
    relation: str
    since: date | None


def is_guardian_of(guardian_citizen_id: str, child_citizen_id: str) -> bool:
    """Whether the register links ``guardian_citizen_id`` as a parent or guardian of
    ``child_citizen_id``."""
    return (
        Guardianship.select()
        .where(
            (Guardianship.child == child_citizen_id)
            & (Guardianship.guardian == guardian_citizen_id)
        )
        .exists()
    )


def in_register(ids: Iterable[str]) -> set[str]:
    """The ids among ``ids`` that have a population record."""
    wanted = sorted(set(ids))
    found: set[str] = set()
    for start in range(0, len(wanted), ID_BATCH):
        query = PopulationRecord.select(PopulationRecord.citizen_id).where(
            PopulationRecord.citizen_id.in_(wanted[start : start + ID_BATCH])
        )
        found.update(citizen_id for (citizen_id,) in query.tuples())
    return found


def link_rows(resident: Resident) -> list[LinkRow]:
    """The links a line of the residents file declares (the resident is the guardian)."""
    return [
        LinkRow(link.citizen_id, resident.citizen_id, link.relation, link.since)
        for link in resident.guardian_of
    ]


def _linked_pairs(children: list[str]) -> set[tuple[str, str]]:
    found: set[tuple[str, str]] = set()
    for start in range(0, len(children), ID_BATCH):
        query = Guardianship.select(Guardianship.child, Guardianship.guardian).where(
            Guardianship.child.in_(children[start : start + ID_BATCH])
        )
        found.update(query.tuples())
    return found


def write_links(db: peewee.Database, links: list[LinkRow]) -> tuple[int, list[LinkRow]]:
    """Write, inside the caller's transaction, the links not in the register yet whose two
    people both have a population record; returns how many were written and the links left
    waiting (a person on a later line of the file, written by a later chunk).

    A link already there is left as it is, so an import cut short can be run again.
    """
    registered = in_register([link.child for link in links] + [link.guardian for link in links])
    ready = [link for link in links if {link.child, link.guardian} <= registered]
    waiting = [link for link in links if not {link.child, link.guardian} <= registered]
    linked = _linked_pairs(sorted({link.child for link in ready}))
    new = [link for link in ready if (link.child, link.guardian) not in linked]
    return bulk_insert(db, Guardianship, LINK_COLUMNS, new), waiting
