"""``dcs-server records import``: the residents file checked whole, written in bulk, once."""

from __future__ import annotations

import json
import random
import re
import secrets
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest
from click.testing import CliRunner

from devtools.residents import cli as residents_cli
from devtools.residents import synthetic_residents
from devtools.synthetic import synthetic_citizen_id
from sync_server.cli import main
from sync_server.db import bind, database
from sync_server.records import models as records
from sync_server.records.changes import latest_change_id
from sync_server.records.models import Guardianship, InsuranceAccount, InsuredPerson
from sync_server.records.read import insured_record
from sync_server.records.residents_file import (
    LineProblem,
    ResidentsFileError,
    decode_line,
    encode_line,
)
from sync_server.records.residents_import import MAX_PROBLEMS, import_residents

AS_OF = date(2026, 11, 24)
MONEY_PROBLEM = 'must be baht as a string with at most two decimals, below 10^12 ("4500.00")'
#: Every table the import writes: the records' own, less the change counter's one row.
TABLES = tuple(model for model in records.MODELS if model is not records.ChangeCounter)


@pytest.fixture
def db(database_url: str):
    yield bind(database_url)
    database.close()


def synthetic_lines(count: int) -> list[bytes]:
    return [encode_line(r) for r in synthetic_residents(count, as_of=AS_OF)]


def table_counts() -> dict[str, int]:
    return {model.__name__: model.select().count() for model in TABLES}


def expected_counts(lines: list[bytes]) -> dict[str, int]:
    """What importing ``lines`` into empty records should write, table by table."""
    residents = [decode_line(line, n) for n, line in enumerate(lines, start=1)]
    children = [child for r in residents for child in r.children]
    identities = [r.identity for r in residents] + [child.identity for child in children]
    return {
        "InsuredPerson": len(residents),
        "Entitlement": len(residents),
        "Contribution": sum(len(r.contributions) for r in residents),
        "BenefitPayment": sum(len(r.benefits) for r in residents),
        "OldAgeSavings": sum(len(r.old_age_savings) for r in residents),
        "InsuranceAccount": sum(r.insurance_account is not None for r in residents),
        "PopulationRecord": len(residents) + len(children),
        "IdentityAccount": sum(identity is not None for identity in identities),
        "Guardianship": sum(len(r.guardian_of) for r in residents),
        "RecordChange": len(residents),
    }


def test_import_writes_every_table_and_the_counts_match(db, tmp_path):
    lines = synthetic_lines(60)
    path = tmp_path / "residents.jsonl"
    path.write_bytes(b"".join(lines))
    counts = import_residents(path)
    expected = expected_counts(lines)
    assert table_counts() == expected
    children = expected["PopulationRecord"] - 60
    assert children > 0, "some synthetic residents have children"
    assert (counts.read, counts.added, counts.present) == (60, 60, 0)
    assert (counts.children_added, counts.children_present) == (children, 0)
    assert counts.rows == sum(expected.values())
    assert latest_change_id() == 60
    # The summary's totals are the sums of the details.
    first = decode_line(lines[0], 1)
    record = insured_record(first.citizen_id)
    assert record.summary.contributions_count == sum(c.payments for c in first.contributions)
    assert record.summary.benefits_baht == sum(Decimal(b.amount) for b in first.benefits)
    assert all(a.password_hash.startswith("$argon2id$") for a in InsuranceAccount.select())


def test_importing_twice_adds_nothing_and_a_longer_file_adds_the_rest(db):
    lines = synthetic_lines(45)
    import_residents(lines[:30])
    before = table_counts()
    again = import_residents(lines[:30])
    assert (again.read, again.added, again.present, again.rows) == (30, 0, 30, 0)
    assert table_counts() == before
    assert latest_change_id() == 30
    more = import_residents(lines)
    assert (more.read, more.added, more.present) == (45, 15, 30)
    assert table_counts() == expected_counts(lines)
    assert latest_change_id() == 45


#: A valid citizen id no synthetic resident of these tests has.
OTHER_ID = synthetic_citizen_id(random.Random("other"))


def _with(line: bytes, change) -> bytes:
    resident = json.loads(line)
    change(resident)
    return json.dumps(resident, ensure_ascii=False).encode()


BAD_LINES = [
    (lambda r: r["population"].update(sex="x"), "population.sex", "must be one of male, female"),
    (lambda r: r.pop("insured"), "insured", "is missing"),
    (lambda r: r.update(colour="red"), "colour", "is not a field of the residents file"),
    (lambda r: r.update(citizen_id="0123456789010"), "citizen_id", "fails its checksum"),
    (lambda r: r.update(as_of="24/11/2026"), "as_of", "is not a date (YYYY-MM-DD)"),
    (
        lambda r: r["contributions"][0].update(amount="1.001"),
        "contributions[0].amount",
        MONEY_PROBLEM,
    ),
    (
        lambda r: r["old_age_savings"][0].update(employer=75.5),
        "old_age_savings[0].employer",
        MONEY_PROBLEM,
    ),
    (lambda r: r.update(citizen_id="123"), "citizen_id", "must be 13 digits"),
    (
        lambda r: r["benefits"].append(dict(r["benefits"][0], method="cash")),
        "benefits[{n}].method",
        "must be one of bank_transfer, promptpay, cheque",
    ),
    (
        lambda r: r["population"].update(first_th="ก" * 101),
        "population.first_th",
        "expected `str` of length <= 100",
    ),
    (
        lambda r: r["hospital"].update(entitled=False),
        "hospital.entitled",
        "is false, so name and card dates must be null",
    ),
    (
        lambda r: r.update(guardian_of=[{"citizen_id": r["citizen_id"], "relation": "parent"}]),
        "guardian_of[0].citizen_id",
        "is the resident's own id",
    ),
    (
        lambda r: r.update(guardian_of=[{"citizen_id": OTHER_ID, "relation": "uncle"}]),
        "guardian_of[0].relation",
        "must be one of parent, guardian",
    ),
    (
        lambda r: r.update(guardian_of=[{"citizen_id": OTHER_ID, "relation": "parent"}] * 2),
        "guardian_of[1].citizen_id",
        "already linked on this line",
    ),
    (
        lambda r: r.update(guardian_of=[{"citizen_id": "0123456789010", "relation": "parent"}]),
        "guardian_of[0].citizen_id",
        "fails its checksum",
    ),
]


@pytest.mark.parametrize(("change", "field", "problem"), BAD_LINES)
def test_a_bad_line_names_line_and_field_and_writes_nothing(db, change, field, problem):
    lines = synthetic_lines(5)
    resident = json.loads(lines[2])
    assert resident["hospital"]["entitled"] and resident["benefits"], "a resident to spoil"
    field = field.format(n=len(resident["benefits"]))
    lines[2] = _with(lines[2], change)
    with pytest.raises(ResidentsFileError) as caught:
        import_residents(lines)
    assert caught.value.problems == [LineProblem(3, field, problem)]
    assert str(caught.value) == f"line 3: {field}: {problem}"
    assert resident["citizen_id"] not in str(caught.value)  # personal data stays out
    assert set(table_counts().values()) == {0}


def test_a_citizen_id_used_twice_is_refused_with_both_lines(db):
    lines = synthetic_lines(4)
    first = json.loads(lines[1])["citizen_id"]
    lines[3] = _with(lines[3], lambda r: r.update(citizen_id=first))
    lines.insert(2, b"\n")  # blank lines are skipped but counted
    with pytest.raises(ResidentsFileError) as caught:
        import_residents(lines)
    assert str(caught.value) == "line 5: citizen_id: the same citizen id as on line 2"
    assert InsuredPerson.select().count() == 0


def test_many_problems_are_listed_up_to_a_limit(db):
    lines = [_with(line, lambda r: r.pop("as_of")) for line in synthetic_lines(MAX_PROBLEMS + 3)]
    with pytest.raises(ResidentsFileError) as caught:
        import_residents(lines)
    assert len(caught.value.problems) == MAX_PROBLEMS and caught.value.more == 3
    assert str(caught.value).endswith("... and 3 more")


def test_a_childs_identity_needs_the_residents_link_to_the_child(db):
    lines = synthetic_lines(60)
    n = next(
        i
        for i, line in enumerate(lines)
        if any(child["identity"] for child in json.loads(line)["children"])
    )
    lines[n] = _with(lines[n], lambda r: r.update(guardian_of=[]))
    with pytest.raises(ResidentsFileError) as caught:
        import_residents(lines)
    [problem] = caught.value.problems
    assert problem.line == n + 1 and problem.field.endswith("].identity")
    assert problem.problem == "needs the resident's guardian_of link to the child"


def test_a_link_to_a_later_line_is_written_by_its_chunk_and_only_once(db):
    lines = synthetic_lines(6)
    later = json.loads(lines[4])["citizen_id"]
    link = {"citizen_id": later, "relation": "guardian", "since": "2020-01-02"}
    lines[0] = _with(lines[0], lambda r: r["guardian_of"].append(link))
    links = sum(len(json.loads(line)["guardian_of"]) for line in lines)

    assert import_residents(lines, chunk=2).links_added == links

    guardian = json.loads(lines[0])["citizen_id"]
    written = Guardianship.get(Guardianship.child == later)
    assert (written.guardian_citizen_id, written.relation) == (guardian, "guardian")
    assert written.since == date(2020, 1, 2)
    assert import_residents(lines, chunk=2).links_added == 0
    assert Guardianship.select().count() == links


def test_the_documented_example_imports(db):
    doc = (Path(__file__).parents[1] / "docs/residents-file.md").read_text()
    example = re.search(r"```json\n(.*?)```", doc, re.DOTALL)[1]
    line = json.dumps(json.loads(example), ensure_ascii=False).encode()
    assert import_residents([line]).children_added == 1


@pytest.fixture
def server_cli(tmp_path, monkeypatch):
    config = tmp_path / "server.toml"
    config.write_text(
        f'SECRET_KEY = "{secrets.token_urlsafe(48)}"\n'
        f'DATABASE_URL = "sqlite:///{tmp_path / "dcs.sqlite3"}"\n'
    )
    monkeypatch.setenv("DCS_SERVER_CONFIG", str(config))
    runner = CliRunner()
    assert runner.invoke(main, ["db", "upgrade"]).exit_code == 0
    yield runner
    database.close()


def test_the_command_line_exports_and_imports(server_cli, tmp_path):
    path = tmp_path / "residents.jsonl"
    exported = server_cli.invoke(
        residents_cli,
        ["export", "--count", "12", "--buildings", "2", "--as-of", "2026-11-24", str(path)],
    )
    assert exported.exit_code == 0, exported.output
    assert len(path.read_bytes().splitlines()) == 12

    first = server_cli.invoke(main, ["records", "import", str(path)])
    assert first.exit_code == 0, first.output
    assert first.stdout.startswith("12 residents read: 12 added, 0 already there;")
    again = server_cli.invoke(main, ["records", "import", str(path)])
    assert again.stdout.startswith("12 residents read: 0 added, 12 already there;")
    assert again.stdout.endswith("; 0 rows written\n")

    bad = tmp_path / "bad.jsonl"
    bad.write_bytes(path.read_bytes() + b'{"citizen_id": "01"}\n')
    refused = server_cli.invoke(main, ["records", "import", str(bad)])
    assert refused.exit_code == 1
    assert "nothing was written" in refused.output
    assert "line 13: citizen_id: must be 13 digits" in refused.output
