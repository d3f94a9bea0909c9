"""Importing a residents file (``docs/residents-file.md``) into the master records, in bulk.

The whole file is checked first: every line, and that no citizen id appears twice. A file
with a wrong line therefore writes nothing. Then it is written in chunks, one transaction
each, with one bulk insert per table and the change log (so replicas follow). A resident
whose citizen id already has a record is left as it is: an import adds, it never updates
(the record updates in ``updates.py`` do that). Importing the same file again adds nothing,
and an import cut short (the database went away) can simply be run again.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from itertools import islice
from pathlib import Path

import peewee

from sync_server.db import database, utc_now, write_transaction
from sync_server.records.bulk import to_driver
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
    rows: int = 0  # rows written, the change log included

    def __str__(self) -> str:
        return (
            f"{self.read:,} residents read: {self.added:,} added, {self.present:,} already there;"
            f" children: {self.children_added:,} added, {self.children_present:,} already there;"
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


def check_residents(source: ResidentsSource) -> int:
    """Check every line, and that each citizen id (residents and children) appears once;
    returns how many residents. Raises :class:`ResidentsFileError` with the first problems."""
    first_line: dict[str, int] = {}
    problems: list[LineProblem] = []
    found = residents = 0
    for number, data in _numbered(source):
        residents += 1
        try:
            line_problems = _reused_ids(decode_line(data, number), number, first_line)
        except ResidentsFileError as exc:
            line_problems = exc.problems
        found += len(line_problems)
        problems += line_problems[: MAX_PROBLEMS - len(problems)]
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
    db: peewee.Database, group: list[Resident], now: object, counts: ImportCounts
) -> None:
    ids = [r.citizen_id for r in group] + [c.citizen_id for r in group for c in r.children]
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
    counts.rows += rows.count()


def import_residents(source: ResidentsSource, *, chunk: int = CHUNK) -> ImportCounts:
    """Check ``source`` whole, then add its residents that are not in the records yet.

    Needs the bound database (``create_app`` or ``sync_server.db.bind``). Raises
    :class:`ResidentsFileError` before writing anything if a line is wrong.
    """
    counts = ImportCounts(read=check_residents(source))
    db = database.obj
    now = to_driver(db, utc_now())
    residents = (decode_line(data, number) for number, data in _numbered(source))
    while group := list(islice(residents, chunk)):
        _write_chunk(db, group, now, counts)
    return counts
