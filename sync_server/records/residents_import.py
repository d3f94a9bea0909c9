"""Importing a residents file (``docs/residents-file.md``) into the master records, in bulk.

The whole file is checked first: every line, and that no citizen id appears twice. A file
with a wrong line therefore writes nothing. Then it is written in chunks, one transaction
each, with one bulk insert per table and the change log (so replicas follow). A resident
whose citizen id already has a record is left as it is: an import adds, it never updates
(the record updates in ``updates.py`` do that). Importing the same file again adds nothing,
and an import cut short (the database went away) can simply be run again. The parent and
guardian links (``guardian_of``) are checked to name people in the file or the population
register, and written once both people are (a link to a later line waits for its chunk).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from itertools import islice
from pathlib import Path

import peewee

from sync_server.db import database, utc_now, write_transaction
from sync_server.records.bulk import to_driver
from sync_server.records.guardianships import LinkRow, in_register, link_rows, write_links
from sync_server.records.models import InsuredPerson, PopulationRecord
from sync_server.records.residents_file import (
    LineProblem,
    Resident,
    ResidentsFileError,
    decode_line,
    read_lines,
)
from sync_server.records.residents_rows import ResidentRows, insert_rows

#: Residents a transaction: big enough for bulk inserts to pay, small enough not to hold the
#: change log's counter (which every record writer takes) for long.
CHUNK = 2000
#: Problems listed before the check stops reporting (it still counts them).
MAX_PROBLEMS = 20

#: A file, or its lines already in memory (tests, the demo's in-process seeding).
ResidentsSource = Path | Sequence[bytes]


@dataclass
class ImportCounts:
    """What an import found and did."""

    read: int = 0
    added: int = 0
    present: int = 0  # already in the records, left as they are
    children_added: int = 0
    children_present: int = 0
    links_added: int = 0  # parent and guardian links (``guardian_of``)
    rows: int = 0  # rows written, the change log included

    def __str__(self) -> str:
        return (
            f"{self.read:,} residents read: {self.added:,} added, {self.present:,} already there;"
            f" children: {self.children_added:,} added, {self.children_present:,} already there;"
            f" {self.links_added:,} guardian links added;"
            f" {self.rows:,} rows written"
        )


def _numbered(source: ResidentsSource) -> Iterator[tuple[int, bytes]]:
    if isinstance(source, Path):
        return read_lines(source)
    return ((n, data) for n, data in enumerate(source, start=1) if data.strip())


def _reused_ids(resident: Resident, line: int, first_line: dict[str, int]) -> list[LineProblem]:
    """Problems for the citizen ids of ``resident`` already used on an earlier line; records
    the new ones in ``first_line``."""
    ids = [("citizen_id", resident.citizen_id)] + [
        (f"children[{n}].citizen_id", child.citizen_id) for n, child in enumerate(resident.children)
    ]
    problems = []
    for field, citizen_id in ids:
        if (earlier := first_line.setdefault(citizen_id, line)) != line:
            problems.append(LineProblem(line, field, f"the same citizen id as on line {earlier}"))
    return problems


def _links(resident: Resident, line: int) -> list[tuple[int, str, str]]:
    """(line, field, linked citizen id) for each of the resident's ``guardian_of`` links."""
    return [
        (line, f"guardian_of[{n}].citizen_id", link.citizen_id)
        for n, link in enumerate(resident.guardian_of)
    ]


def _unknown_links(links: list[tuple[int, str, str]], in_file: set[str]) -> list[LineProblem]:
    """Problems for the links to an id neither in the file nor in the population register
    (needs the bound database when some id is not in the file)."""
    outside = sorted({citizen_id for _, _, citizen_id in links} - in_file)
    registered = in_register(outside)
    return [
        LineProblem(line, field, "is neither in the file nor in the population register")
        for line, field, citizen_id in links
        if citizen_id not in in_file and citizen_id not in registered
    ]


def check_residents(source: ResidentsSource) -> int:
    """Check every line, that each citizen id (residents and children) appears once, and
    that each ``guardian_of`` link names someone in the file or the population register;
    returns how many residents. Raises :class:`ResidentsFileError` with the first problems."""
    first_line: dict[str, int] = {}
    links: list[tuple[int, str, str]] = []
    problems: list[LineProblem] = []
    found = residents = 0
    for number, data in _numbered(source):
        residents += 1
        try:
            resident = decode_line(data, number)
            line_problems = _reused_ids(resident, number, first_line)
            links += _links(resident, number)
        except ResidentsFileError as exc:
            line_problems = exc.problems
        found += len(line_problems)
        problems += line_problems[: MAX_PROBLEMS - len(problems)]
    link_problems = _unknown_links(links, set(first_line))
    found += len(link_problems)
    # In line order with the others: a link's problem is found only after the last line.
    problems = sorted(problems + link_problems[: MAX_PROBLEMS - len(problems)])
    if found:
        raise ResidentsFileError(problems, more=found - len(problems))
    return residents


def _present(ids: list[str]) -> set[str]:
    """The ids among ``ids`` that already have a summary or a population record."""
    found: set[str] = set()
    for start in range(0, len(ids), 500):
        chunk = ids[start : start + 500]
        for column in (PopulationRecord.citizen_id, InsuredPerson.citizen_id):
            query = column.model.select(column).where(column.in_(chunk))
            found.update(citizen_id for (citizen_id,) in query.tuples())
    return found


def _write_chunk(
    db: peewee.Database,
    group: list[Resident],
    now: object,
    counts: ImportCounts,
    waiting: list[LinkRow],
) -> list[LinkRow]:
    """Write one chunk; returns the links still waiting for a person of a later chunk."""
    ids = [r.citizen_id for r in group] + [c.citizen_id for r in group for c in r.children]
    # Every line's links, the residents already there too: a link a cut-short import did
    # not write (its child came in a chunk that never committed) is written on the rerun.
    links = waiting + [link for resident in group for link in link_rows(resident)]
    with write_transaction(db):
        present = _present(ids)
        rows = ResidentRows()
        for resident in group:
            if resident.citizen_id in present:
                counts.present += 1
                continue
            children = rows.add(resident, present)
            counts.added += 1
            counts.children_added += len(children)
            counts.children_present += len(resident.children) - len(children)
        insert_rows(db, rows, now)
        added, waiting = write_links(db, links)
    counts.links_added += added
    counts.rows += rows.count() + added
    return waiting


def import_residents(source: ResidentsSource, *, chunk: int = CHUNK) -> ImportCounts:
    """Check ``source`` whole, then add its residents that are not in the records yet.

    Needs the bound database (``create_app`` or ``sync_server.db.bind``). Raises
    :class:`ResidentsFileError` before writing anything if a line is wrong.
    """
    counts = ImportCounts(read=check_residents(source))
    db = database.obj
    now = to_driver(db, utc_now())
    residents = (decode_line(data, number) for number, data in _numbered(source))
    waiting: list[LinkRow] = []
    while group := list(islice(residents, chunk)):
        waiting = _write_chunk(db, group, now, counts, waiting)
    return counts
