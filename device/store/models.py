"""peewee models of the station store.

The schema itself is created by :mod:`device.store.migrations`; these classes only query it.
Each open store binds its own subclasses (:func:`bind_models`) so several stores can live in
one process (simulated stations in the benchmarks) without sharing a global database.
"""

from __future__ import annotations

from typing import NamedTuple

import peewee


class OutboxRow(peewee.Model):
    """A transaction waiting for (or settled by) the server's ack."""

    seq = peewee.AutoField()
    tx_id = peewee.TextField(unique=True)
    kind = peewee.TextField()
    station_time = peewee.TextField()
    sealed_body = peewee.BlobField()
    state = peewee.TextField(default="pending")
    reason = peewee.TextField(null=True)
    settled_at = peewee.TextField(null=True)

    class Meta:
        table_name = "outbox"


class Counter(peewee.Model):
    """A named durable counter."""

    name = peewee.TextField(primary_key=True)
    value = peewee.IntegerField()

    class Meta:
        table_name = "counter"


class Models(NamedTuple):
    """The model classes bound to one store's database."""

    outbox: type[OutboxRow]
    counter: type[Counter]


def _bind(model: type[peewee.Model], db: peewee.Database) -> type[peewee.Model]:
    meta = type("Meta", (), {"database": db, "table_name": model._meta.table_name})
    return type(model.__name__, (model,), {"Meta": meta, "__module__": model.__module__})


def bind_models(db: peewee.Database) -> Models:
    """Subclasses of the models bound to ``db``."""
    return Models(outbox=_bind(OutboxRow, db), counter=_bind(Counter, db))
