"""The master records: the insured person's summary and the details of seed 003, accounts,
the population register and the change log that drives replicas.

``InsuredPerson`` is the summary row the live lookup reads; the detail tables hang off it
by citizen id. Money is ``DECIMAL(14, 2)``, read as
:class:`decimal.Decimal`. Years are Gregorian (the kiosk shows the Buddhist era).
"""

from __future__ import annotations

import peewee

from sync_server.db import BaseModel, utc_now


class InsuredPerson(BaseModel):
    """The insured-person summary of seed 003 (detail tables come with the records issue)."""

    citizen_id = peewee.CharField(primary_key=True, max_length=13)
    full_name_th = peewee.CharField(max_length=200)
    full_name_en = peewee.CharField(max_length=200, null=True)
    status = peewee.CharField(max_length=16)
    hospital = peewee.CharField(max_length=200, null=True)
    contributions_baht = peewee.DecimalField(max_digits=14, decimal_places=2)
    contributions_count = peewee.IntegerField()
    benefits_baht = peewee.DecimalField(max_digits=14, decimal_places=2)
    benefits_count = peewee.IntegerField()
    old_age_savings_baht = peewee.DecimalField(max_digits=14, decimal_places=2)
    building = peewee.CharField(max_length=64, null=True, index=True)
    as_of = peewee.DateField()


def _money() -> peewee.DecimalField:
    return peewee.DecimalField(max_digits=14, decimal_places=2)


def _person(backref: str, **options: object) -> peewee.ForeignKeyField:
    # Named ``citizen``, so ``row.citizen_id`` is the raw id without a join.
    return peewee.ForeignKeyField(
        InsuredPerson, column_name="citizen_id", backref=backref, on_delete="CASCADE", **options
    )


class Entitlement(BaseModel):
    """Hospital entitlement (seed 003's hospital screen)."""

    citizen = _person("entitlement", primary_key=True)
    entitled = peewee.BooleanField()
    hospital = peewee.CharField(max_length=200, null=True)
    card_issued_on = peewee.DateField(null=True)
    card_expires_on = peewee.DateField(null=True)


class Contribution(BaseModel):
    """Contributions paid in one year: number of payments and amount."""

    id = peewee.BigAutoField()
    citizen = _person("contributions", index=False)
    year = peewee.SmallIntegerField()
    payments = peewee.SmallIntegerField()
    amount = _money()

    class Meta:
        indexes = ((("citizen", "year"), True),)


class BenefitPayment(BaseModel):
    """One paid benefit claim (type and method are codes, see ``contract.BENEFIT_TYPES``)."""

    id = peewee.BigAutoField()
    citizen = _person("benefits", index=False)
    paid_on = peewee.DateField()
    benefit_type = peewee.CharField(max_length=32)
    method = peewee.CharField(max_length=32)
    amount = _money()

    class Meta:
        indexes = ((("citizen", "paid_on"), False),)


class OldAgeSavings(BaseModel):
    """Old-age savings paid in one year, by who paid (verification only, never printed)."""

    id = peewee.BigAutoField()
    citizen = _person("old_age_savings", index=False)
    year = peewee.SmallIntegerField()
    employee = _money()
    employer = _money()
    government = _money()

    class Meta:
        indexes = ((("citizen", "year"), True),)


class InsuranceAccount(BaseModel):
    """An insurance e-account (seed 000). ``password_hash`` is argon2id, never a password."""

    insurance_number = peewee.CharField(primary_key=True, max_length=13)
    citizen = _person("insurance_accounts", unique=True)
    phone = peewee.CharField(max_length=10, index=True)
    email = peewee.CharField(max_length=254, null=True)
    password_hash = peewee.CharField(max_length=200)
    must_change_password = peewee.BooleanField(default=False)
    password_changed_at = peewee.DateTimeField(null=True)
    created_at = peewee.DateTimeField(default=utc_now)


class PopulationRecord(BaseModel):
    """What the population register says (the ID card's data); e-ID level 1 is matched on it."""

    citizen_id = peewee.CharField(primary_key=True, max_length=13)
    prefix_th = peewee.CharField(max_length=32)
    first_th = peewee.CharField(max_length=100)
    last_th = peewee.CharField(max_length=100)
    prefix_en = peewee.CharField(max_length=32)
    first_en = peewee.CharField(max_length=100)
    last_en = peewee.CharField(max_length=100)
    sex = peewee.CharField(max_length=8)
    date_of_birth = peewee.DateField(null=True)  # None: the register knows only the year
    birth_year = peewee.SmallIntegerField()
    #: As the card stores it: ``house#moo#trok#soi#road#subdistrict#district#province``.
    address = peewee.CharField(max_length=300)
    building = peewee.CharField(max_length=64, null=True, index=True)
    #: ISO 3166-1 alpha-2: ``TH`` for a Thai national; a foreigner's as on their passport.
    nationality = peewee.CharField(max_length=2, default="TH")
    #: A foreigner's passport number (seed 001 declares it instead of a Thai id); else None.
    passport_number = peewee.CharField(max_length=20, null=True)
    #: False: under a court-appointed guardian (without legal capacity), so their e-ID
    #: account is registered through the guardian's whatever their age (seed 001).
    legal_capacity = peewee.BooleanField(default=True)


class IdentityAccount(BaseModel):
    """An electronic identity account (seed 001): level 1 or 2; a child's names a guardian."""

    citizen = peewee.ForeignKeyField(
        PopulationRecord, primary_key=True, column_name="citizen_id", on_delete="CASCADE"
    )
    level = peewee.SmallIntegerField()
    phone = peewee.CharField(max_length=10, null=True)
    email = peewee.CharField(max_length=254, null=True)
    guardian = peewee.ForeignKeyField(
        "self", null=True, column_name="guardian_citizen_id", backref="wards", on_delete="RESTRICT"
    )
    created_on = peewee.DateField()


#: How a guardian is linked to a child: a parent, or a guardian appointed otherwise.
GUARDIAN_RELATIONS = ("parent", "guardian")


class Guardianship(BaseModel):
    """The population register's link from a child (or a person without legal capacity) to
    one of their parents or guardians. Seed 001: only a linked guardian registers the
    child's e-ID account.

    A table rather than columns on :class:`PopulationRecord`: a child has up to two parents
    and may have a guardian besides, and each link has its own relation and date.
    """

    id = peewee.BigAutoField()
    # The composite unique index below starts with the child, so it covers look-ups by child.
    child = peewee.ForeignKeyField(
        PopulationRecord,
        column_name="child_citizen_id",
        backref="guardianships",
        on_delete="CASCADE",
        index=False,
    )
    guardian = peewee.ForeignKeyField(
        PopulationRecord,
        column_name="guardian_citizen_id",
        backref="guardianships_held",
        on_delete="CASCADE",
    )
    relation = peewee.CharField(max_length=16)  # one of GUARDIAN_RELATIONS
    since = peewee.DateField(null=True)  # None: the register does not say

    class Meta:
        indexes = ((("child", "guardian"), True),)


class RecordChange(BaseModel):
    """The change log replicas follow: a resident's record changed in ``building``.

    ``id`` comes from :class:`ChangeCounter` inside the writing transaction, so ids are
    handed out in commit order (see ``sync_server/records/changes.py``).
    """

    id = peewee.BigIntegerField(primary_key=True)
    citizen_id = peewee.CharField(max_length=13)
    building = peewee.CharField(max_length=64)
    at = peewee.DateTimeField(default=utc_now)

    class Meta:
        indexes = ((("building", "id"), False),)


class ChangeCounter(BaseModel):
    """The last change id handed out (one row)."""

    name = peewee.CharField(primary_key=True, max_length=32)
    value = peewee.BigIntegerField()


MODELS = [
    InsuredPerson,
    Entitlement,
    Contribution,
    BenefitPayment,
    OldAgeSavings,
    InsuranceAccount,
    PopulationRecord,
    IdentityAccount,
    Guardianship,
    RecordChange,
    ChangeCounter,
]
