"""The residents file: one resident's master records a line, for ``dcs-server records import``.

JSON Lines (UTF-8, one JSON object a line, blank lines skipped), each line a :class:`Resident`:
the insured person, the hospital entitlement, contributions by year, paid benefit claims,
old-age savings by year, the population record, the insurance e-account, the e-ID account,
the children registered under the resident and the people the resident is a parent or
guardian of (``guardian_of``: the population register's links, checked by seed 001's
registration of a child). The summary's totals are not in the file:
they are computed from the details, as every record update does (``updates.refresh_summary``).
Money is baht as a decimal string with at most two decimals (``"7500.00"``), never a JSON
number (binary floating point has no place in money); dates are ISO (``"2026-11-24"``,
Gregorian). The format is documented in ``docs/residents-file.md``.

Problems name the line and the field, never the value: the file holds personal data.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Annotated, Literal, NamedTuple

import msgspec

from contract import BENEFIT_TYPES, PAYMENT_METHODS
from contract.identifiers import is_valid_citizen_id

STATUSES = ("section33", "section39", "resigned")
SEXES = ("male", "female")
IDENTITY_LEVELS = (1, 2)
#: As ``models.GUARDIAN_RELATIONS`` (this module is the format, it imports no model).
RELATIONS = ("parent", "guardian")
CITIZEN_ID_PATTERN = r"^[0-9]{13}$"
PHONE_PATTERN = r"^0[0-9]{9}$"
EMAIL_PATTERN = r"^[^@\s]+@[^@\s]+$"
NATIONALITY_PATTERN = r"^[A-Z]{2}$"
#: A passport (or travel document) number: letters and digits, as printed, upper case.
PASSPORT_PATTERN = r"^[A-Z0-9]{5,20}$"
#: ``DECIMAL(14, 2)``: below 10^12 baht, at most two decimals. Checked by the decoder (in C),
#: where a check per amount in Python would double the time an import takes.
MONEY_PATTERN = r"^[0-9]{1,12}(\.[0-9]{1,2})?$"

CitizenId = Annotated[str, msgspec.Meta(pattern=CITIZEN_ID_PATTERN)]
Phone = Annotated[str, msgspec.Meta(pattern=PHONE_PATTERN)]
Email = Annotated[str, msgspec.Meta(max_length=254, pattern=EMAIL_PATTERN)]
Money = Annotated[str, msgspec.Meta(pattern=MONEY_PATTERN)]
Building = Annotated[str, msgspec.Meta(min_length=1, max_length=64)]
Year = Annotated[int, msgspec.Meta(ge=1900, le=2200)]
Prefix = Annotated[str, msgspec.Meta(max_length=32)]
Name = Annotated[str, msgspec.Meta(min_length=1, max_length=100)]
LongName = Annotated[str, msgspec.Meta(min_length=1, max_length=200)]


class _Strict(msgspec.Struct, forbid_unknown_fields=True):
    """A part of a line: unknown fields are refused, so a misspelt field is not ignored."""


class Insured(_Strict, kw_only=True):
    """The insured-person summary's own fields (the totals are computed)."""

    full_name_th: LongName
    full_name_en: Annotated[str, msgspec.Meta(max_length=200)] | None = None
    status: Literal[STATUSES]


class Hospital(_Strict, kw_only=True):
    """The hospital entitlement; a resigned resident is not entitled."""

    entitled: bool
    name: LongName | None = None
    card_issued_on: date | None = None
    card_expires_on: date | None = None

    def __post_init__(self) -> None:
        if self.entitled and self.name is None:
            raise ValueError("name: an entitlement names its hospital")
        if not self.entitled and (self.name, self.card_issued_on, self.card_expires_on) != (
            None,
            None,
            None,
        ):
            raise ValueError("entitled: is false, so name and card dates must be null")
        issued, expires = self.card_issued_on, self.card_expires_on
        if issued is not None and expires is not None and expires < issued:
            raise ValueError("card_expires_on: is before card_issued_on")


class ContributionYear(_Strict, kw_only=True):
    """Contributions paid in one year: the number of monthly payments and the amount."""

    year: Year
    payments: Annotated[int, msgspec.Meta(ge=0, le=12)]
    amount: Money


class BenefitClaim(_Strict, kw_only=True):
    """One paid benefit claim."""

    paid_on: date
    benefit_type: Literal[BENEFIT_TYPES]
    method: Literal[PAYMENT_METHODS]
    amount: Money


class SavingsYear(_Strict, kw_only=True):
    """Old-age savings paid in one year, by who paid."""

    year: Year
    employee: Money
    employer: Money
    government: Money


class Population(_Strict, kw_only=True):
    """What the population register says (the ID card's data)."""

    prefix_th: Prefix
    first_th: Name
    last_th: Name
    prefix_en: Prefix
    first_en: Annotated[str, msgspec.Meta(max_length=100)]
    last_en: Annotated[str, msgspec.Meta(max_length=100)]
    sex: Literal[SEXES]
    date_of_birth: date | None = None  # None: the register knows only the year
    birth_year: Year
    #: As the card stores it: ``house#moo#trok#soi#road#subdistrict#district#province``.
    address: Annotated[str, msgspec.Meta(min_length=1, max_length=300)]
    #: ISO 3166-1 alpha-2; a foreigner (not ``TH``) has a passport number.
    nationality: Annotated[str, msgspec.Meta(pattern=NATIONALITY_PATTERN)] = "TH"
    passport_number: Annotated[str, msgspec.Meta(pattern=PASSPORT_PATTERN)] | None = None
    #: False: under a court-appointed guardian (a ``guardian_of`` link names them).
    legal_capacity: bool = True

    def __post_init__(self) -> None:
        if self.date_of_birth is not None and self.date_of_birth.year != self.birth_year:
            raise ValueError("birth_year: differs from the year of date_of_birth")
        if (self.nationality == "TH") != (self.passport_number is None):
            raise ValueError("passport_number: a foreigner has one, a Thai national none")


class InsuranceAccount(_Strict, kw_only=True):
    """The insurance e-account; its number is the citizen id. No password: see the docs."""

    phone: Phone
    email: Email | None = None
    must_change_password: bool = False


class Identity(_Strict, kw_only=True):
    """An electronic identity account, level 1 or 2."""

    level: Literal[IDENTITY_LEVELS]
    phone: Phone | None = None
    email: Email | None = None
    created_on: date


class Child(_Strict, kw_only=True):
    """A child in the resident's household: a population record, maybe an e-ID account
    registered under the resident (its guardian). Lives in the resident's building."""

    citizen_id: CitizenId
    population: Population
    identity: Identity | None = None

    def __post_init__(self) -> None:
        if not is_valid_citizen_id(self.citizen_id):
            raise ValueError("citizen_id: fails its checksum")


class GuardianLink(_Strict, kw_only=True):
    """The resident is a parent or guardian of ``citizen_id``: a child on this line, a
    resident or child elsewhere in the file, or a person already in the population register."""

    citizen_id: CitizenId
    relation: Literal[RELATIONS]
    since: date | None = None  # None: the register does not say

    def __post_init__(self) -> None:
        if not is_valid_citizen_id(self.citizen_id):
            raise ValueError("citizen_id: fails its checksum")


class Resident(_Strict, kw_only=True):
    """One line of the residents file."""

    citizen_id: CitizenId
    building: Building | None = None  # None: no station serves the resident
    as_of: date
    insured: Insured
    hospital: Hospital
    contributions: list[ContributionYear] = []
    benefits: list[BenefitClaim] = []
    old_age_savings: list[SavingsYear] = []
    population: Population
    insurance_account: InsuranceAccount | None = None
    identity: Identity | None = None
    children: list[Child] = []
    guardian_of: list[GuardianLink] = []

    def __post_init__(self) -> None:
        if not is_valid_citizen_id(self.citizen_id):
            raise ValueError("citizen_id: fails its checksum")
        if self.insured.status == "resigned" and self.hospital.entitled:
            raise ValueError("hospital.entitled: a resigned resident is not entitled")
        _check_unique_years("contributions", [row.year for row in self.contributions])
        _check_unique_years("old_age_savings", [row.year for row in self.old_age_savings])
        seen = {self.citizen_id}
        for n, child in enumerate(self.children):
            if child.citizen_id in seen:
                raise ValueError(f"children[{n}].citizen_id: already used on this line")
            seen.add(child.citizen_id)
            if child.identity is not None and self.identity is None:
                raise ValueError(
                    f"children[{n}].identity: needs the resident's own identity (the guardian)"
                )
        _check_guardian_links(self)


def _check_guardian_links(resident: Resident) -> None:
    """Links name someone else, once each; a child's e-ID account (registered under the
    resident) needs the resident's link to that child."""
    linked: set[str] = set()
    for n, link in enumerate(resident.guardian_of):
        if link.citizen_id == resident.citizen_id:
            raise ValueError(f"guardian_of[{n}].citizen_id: is the resident's own id")
        if link.citizen_id in linked:
            raise ValueError(f"guardian_of[{n}].citizen_id: already linked on this line")
        linked.add(link.citizen_id)
    for n, child in enumerate(resident.children):
        if child.identity is not None and child.citizen_id not in linked:
            raise ValueError(
                f"children[{n}].identity: needs the resident's guardian_of link to the child"
            )


def _check_unique_years(field: str, years: list[int]) -> None:
    seen: set[int] = set()
    for n, year in enumerate(years):
        if year in seen:
            raise ValueError(f"{field}[{n}].year: a second entry for the same year")
        seen.add(year)


class LineProblem(NamedTuple):
    """What is wrong where: a line number (from 1) and a field path such as
    ``children[0].population.birth_year`` (empty: the line as a whole)."""

    line: int
    field: str
    problem: str

    def __str__(self) -> str:
        where = f"line {self.line}: {self.field}" if self.field else f"line {self.line}"
        return f"{where}: {self.problem}"


class ResidentsFileError(ValueError):
    """The file is not a valid residents file; ``problems`` lists the first ones found."""

    def __init__(self, problems: list[LineProblem], more: int = 0) -> None:
        self.problems = problems
        self.more = more
        lines = [str(problem) for problem in problems]
        if more:
            lines.append(f"... and {more} more")
        super().__init__("\n".join(lines))


_decoder = msgspec.json.Decoder(Resident)
#: Our own checks say ``field: problem``; msgspec's start with a capital or a backquote.
_OWN_PROBLEM = re.compile(r"([a-z_]+(?:\[\d+\])?(?:\.[a-z_]+(?:\[\d+\])?)*): (.+)")
_CHOICES = {
    "status": STATUSES,
    "benefit_type": BENEFIT_TYPES,
    "method": PAYMENT_METHODS,
    "sex": SEXES,
    "level": IDENTITY_LEVELS,
    "relation": RELATIONS,
}
_MONEY_PROBLEM = 'must be baht as a string with at most two decimals, below 10^12 ("4500.00")'
#: By the pattern as msgspec quotes it (``repr``).
_PATTERN_PROBLEMS = {
    repr(CITIZEN_ID_PATTERN): "must be 13 digits",
    repr(PHONE_PATTERN): "must be 0 and nine more digits",
    repr(EMAIL_PATTERN): "is not an e-mail address",
    repr(MONEY_PATTERN): _MONEY_PROBLEM,
}
_MONEY_FIELDS = {"amount", "employee", "employer", "government"}


def _join(path: str, field: str) -> str:
    return f"{path}.{field}" if path else field


def _problem_of(message: str) -> tuple[str, str]:
    """(field path, problem) from a msgspec validation message, without the value."""
    problem, at, where = message.rpartition(" - at `")
    if not at:
        problem, where = message, "$`"
    path = where.removesuffix("`").removeprefix("$").removeprefix(".")
    if missing := re.fullmatch(r"Object missing required field `(.+)`", problem):
        return _join(path, missing[1]), "is missing"
    if unknown := re.fullmatch(r"Object contains unknown field `(.+)`", problem):
        return _join(path, unknown[1]), "is not a field of the residents file"
    if problem.startswith("Invalid enum value"):  # msgspec quotes the value: leave it out
        choices = _CHOICES.get(path.rpartition(".")[2], ())
        return path, "must be one of " + ", ".join(map(str, choices))
    if pattern := re.fullmatch(r"Expected `str` matching regex ('.+')", problem):
        return path, _PATTERN_PROBLEMS.get(pattern[1], "is not in the expected form")
    if path.rpartition(".")[2] in _MONEY_FIELDS and problem.startswith("Expected `str`"):
        return path, _MONEY_PROBLEM
    if problem.startswith("Invalid RFC3339 encoded date"):
        return path, "is not a date (YYYY-MM-DD)"
    if own := _OWN_PROBLEM.fullmatch(problem):
        return _join(path, own[1]), own[2]
    return path, problem[:1].lower() + problem[1:]


def decode_line(data: bytes, line: int) -> Resident:
    """One line as a :class:`Resident`; raises :class:`ResidentsFileError` naming the field."""
    try:
        return _decoder.decode(data)
    except msgspec.ValidationError as exc:
        field, problem = _problem_of(str(exc))
        raise ResidentsFileError([LineProblem(line, field, problem)]) from None
    except msgspec.DecodeError as exc:
        raise ResidentsFileError([LineProblem(line, "", f"not a JSON object ({exc})")]) from None


def encode_line(resident: Resident) -> bytes:
    """``resident`` as one line of the file, newline included."""
    return msgspec.json.encode(resident) + b"\n"


def read_lines(path: Path) -> Iterator[tuple[int, bytes]]:
    """The file's non-blank lines with their numbers (from 1)."""
    with open(path, "rb") as lines:
        for number, data in enumerate(lines, start=1):
            if data.strip():
                yield number, data
