"""Synthetic residents as a residents file (``docs/residents-file.md``): never real people.

Each resident of :func:`devtools.synthetic.residents` with the history of
:mod:`devtools.synthetic_history` becomes one line that ``dcs-server records import`` reads.
The same count, seed and buildings always give the same file (``--as-of`` aside), and the
first ``n`` lines of a bigger file are the file of ``n``.

``python -m devtools.residents export --count 1000 --seed 2026 --buildings 4 FILE``
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from decimal import Decimal
from pathlib import Path

import click

from devtools.synthetic import SyntheticResident, residents
from devtools.synthetic_history import IdentityAccount, InsuredHistory, SyntheticChild, history
from sync_server.records import residents_file as f


def _population(
    person: SyntheticResident | SyntheticChild, birth_year: int, address: str
) -> f.Population:
    return f.Population(
        prefix_th=person.prefix_th,
        first_th=person.first_th,
        last_th=person.last_th,
        prefix_en=person.prefix_en,
        first_en=person.first_en,
        last_en=person.last_en,
        sex=person.sex,
        date_of_birth=person.date_of_birth,
        birth_year=birth_year,
        address=address,
    )


def _baht(amount: Decimal) -> str:
    return f"{amount:.2f}"


def _identity(identity: IdentityAccount | None) -> f.Identity | None:
    if identity is None:
        return None
    return f.Identity(
        level=identity.level,
        phone=identity.phone,
        email=identity.email,
        created_on=identity.created_on,
    )


def resident_line(
    r: SyntheticResident, h: InsuredHistory, as_of: date, children: list[SyntheticChild]
) -> f.Resident:
    """One line of the residents file: ``r`` with history ``h`` and the ``children`` kept,
    each linked to ``r`` as its parent (the population register's guardian link)."""
    address = r.card_address()  # children live with the resident
    child_identities = {i.citizen_id: i for i in h.child_identities}
    account = h.account
    return f.Resident(
        citizen_id=r.citizen_id,
        building=r.building,
        as_of=as_of,
        insured=f.Insured(
            full_name_th=r.full_name_th, full_name_en=r.full_name_en, status=r.status
        ),
        hospital=f.Hospital(
            entitled=h.entitlement.entitled,
            name=h.entitlement.hospital,
            card_issued_on=h.entitlement.card_issued_on,
            card_expires_on=h.entitlement.card_expires_on,
        ),
        contributions=[
            f.ContributionYear(year=c.year, payments=c.payments, amount=_baht(c.amount))
            for c in h.contributions
        ],
        benefits=[
            f.BenefitClaim(
                paid_on=b.paid_on,
                benefit_type=b.benefit_type,
                method=b.method,
                amount=_baht(b.amount),
            )
            for b in h.benefits
        ],
        old_age_savings=[
            f.SavingsYear(
                year=s.year,
                employee=_baht(s.employee),
                employer=_baht(s.employer),
                government=_baht(s.government),
            )
            for s in h.old_age_savings
        ],
        population=_population(r, r.birth_year, address),
        insurance_account=None
        if account is None
        else f.InsuranceAccount(
            phone=account.phone,
            email=account.email,
            must_change_password=account.must_change_password,
        ),
        identity=_identity(h.identity),
        children=[
            f.Child(
                citizen_id=child.citizen_id,
                population=_population(child, child.date_of_birth.year, address),
                identity=_identity(child_identities.get(child.citizen_id)),
            )
            for child in children
        ],
        # Synthetic children are the resident's own: a parent since the day they were born.
        guardian_of=[
            f.GuardianLink(
                citizen_id=child.citizen_id, relation="parent", since=child.date_of_birth
            )
            for child in children
        ],
    )


def synthetic_residents(
    count: int, seed: int = 2026, buildings: int = 4, as_of: date | None = None
) -> Iterator[f.Resident]:
    """``count`` synthetic residents as lines of the residents file, dated ``as_of`` (today).

    A child whose random id is a resident's, or an earlier child's, is left out: the file
    must not use a citizen id twice (the resident keeps it).
    """
    as_of = as_of or date.today()
    taken = {r.citizen_id for r in residents(count, seed, buildings=buildings)}
    for r in residents(count, seed, buildings=buildings):
        h = history(r, as_of)
        children = [c for c in h.children if c.citizen_id not in taken]
        taken.update(c.citizen_id for c in children)
        yield resident_line(r, h, as_of, children)


def export(
    path: Path, count: int, seed: int = 2026, buildings: int = 4, as_of: date | None = None
) -> int:
    """Write ``count`` synthetic residents to ``path`` as a residents file; returns ``count``."""
    with open(path, "wb") as out:
        for resident in synthetic_residents(count, seed, buildings, as_of):
            out.write(f.encode_line(resident))
    return count


@click.group()
def cli() -> None:
    """Synthetic residents as a residents file (never real people)."""


@cli.command("export")
@click.option("--count", default=200, show_default=True, type=click.IntRange(1))
@click.option("--seed", default=2026, show_default=True, help="Random seed (reproducible).")
@click.option("--buildings", default=4, show_default=True, type=click.IntRange(1))
@click.option("--as-of", type=click.DateTime(["%Y-%m-%d"]), help="The records' date [today].")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
def export_command(count: int, seed: int, buildings: int, as_of: object, file: Path) -> None:
    """Write COUNT synthetic residents to FILE, for `dcs-server records import FILE`."""
    day = as_of.date() if as_of is not None else None  # type: ignore[attr-defined]
    export(file, count, seed, buildings, day)
    click.echo(f"{count:,} synthetic residents written to {file}")


if __name__ == "__main__":
    cli()
