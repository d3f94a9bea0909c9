"""The replica's tables in the station store (migration 4), encrypted at rest.

A record is found by ``HMAC-SHA256(index key, citizen id)`` and stored sealed (AES-GCM
under the store key, bound to that lookup key), so the database file holds no citizen id,
name or figure in clear; the index key is derived from the store key, which lives outside
the database. Staged parts of an update are sealed the same way until the update is whole.
Deleted rows are overwritten (``secure_delete``) and the WAL truncated after a wipe.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from datetime import datetime

import msgspec
import peewee
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from contract import InsuredRecord, ReplicaContent
from device.store import Store

_encoder = msgspec.json.Encoder(decimal_format="string")
_record_decoder = msgspec.json.Decoder(InsuredRecord)
_content_decoder = msgspec.json.Decoder(ReplicaContent)


@dataclass(frozen=True)
class ReplicaState:
    """Where the replica stands (nothing personal: kept in clear)."""

    building: str | None
    cursor: int | None
    as_of: datetime | None
    updated_at: datetime | None
    records: int
    wiped: bool
    pending_request: str | None
    last_refusal: str | None


def _index_key(store_key: bytes) -> bytes:
    return HKDF(
        algorithm=hashes.SHA256(), length=32, salt=None, info=b"dcs replica lookup index"
    ).derive(store_key)


def _time(text: str | None) -> datetime | None:
    return datetime.fromisoformat(text) if text else None


class ReplicaStore:
    """Reads and writes the replica tables of one store."""

    def __init__(self, store: Store, store_key: bytes) -> None:
        self._db: peewee.SqliteDatabase = store.db
        self._sealer = store.sealer
        self._index = _index_key(store_key)

    # -- lookups -------------------------------------------------------------------------

    def lookup_key(self, citizen_id: str) -> bytes:
        """Where a citizen's record is filed (a keyed hash: the id is not recoverable)."""
        return hmac.new(self._index, citizen_id.encode(), hashlib.sha256).digest()

    def record(self, citizen_id: str) -> InsuredRecord | None:
        """The stored record of ``citizen_id``, or ``None``."""
        key = self.lookup_key(citizen_id)
        row = self._db.execute_sql(
            "SELECT sealed_record FROM replica_record WHERE lookup_key = ?", (key,)
        ).fetchone()
        if row is None:
            return None
        record = _record_decoder.decode(self._sealer.open(row[0], b"replica-record:" + key))
        # Bound by the AAD already; this also catches a hash collision, however unlikely.
        return record if record.citizen_id == citizen_id else None

    def state(self) -> ReplicaState:
        """The replica's state row."""
        row = self._db.execute_sql(
            "SELECT building, cursor, as_of, updated_at, records, wiped, pending_request,"
            " last_refusal FROM replica_state WHERE id = 1"
        ).fetchone()
        return ReplicaState(
            building=row[0],
            cursor=row[1],
            as_of=_time(row[2]),
            updated_at=_time(row[3]),
            records=row[4],
            wiped=bool(row[5]),
            pending_request=row[6],
            last_refusal=row[7],
        )

    def all_records(self) -> list[InsuredRecord]:
        """Every stored record (for tests and diagnostics; never logged)."""
        rows = self._db.execute_sql("SELECT lookup_key, sealed_record FROM replica_record")
        return [
            _record_decoder.decode(self._sealer.open(sealed, b"replica-record:" + key))
            for key, sealed in rows.fetchall()
        ]

    # -- writes --------------------------------------------------------------------------

    def atomic(self) -> peewee._atomic:
        """One transaction around several writes."""
        return self._db.atomic()

    def _secure(self) -> None:
        # Deleted and replaced rows are overwritten with zeros, not left in free pages.
        self._db.execute_sql("PRAGMA secure_delete = ON")

    def set_state(self, **fields: object) -> None:
        """Update columns of the state row."""
        columns = ", ".join(f"{name} = ?" for name in fields)  # names are ours, not input
        self._db.execute_sql(
            f"UPDATE replica_state SET {columns} WHERE id = 1",  # noqa: S608
            tuple(fields.values()),
        )

    def stage(self, content: ReplicaContent, raw: bytes) -> int:
        """Keep one part (sealed) until its update is whole; returns the parts held so far."""
        aad = f"replica-part:{content.update_id}:{content.part}".encode()
        with self._db.atomic():
            self._db.execute_sql(
                "INSERT OR IGNORE INTO replica_part (update_id, part, parts, sealed_content)"
                " VALUES (?, ?, ?, ?)",
                (content.update_id, content.part, content.parts, self._sealer.seal(raw, aad)),
            )
            return self._db.execute_sql(
                "SELECT COUNT(*) FROM replica_part WHERE update_id = ?", (content.update_id,)
            ).fetchone()[0]

    def staged(self, update_id: str) -> list[ReplicaContent]:
        """The parts of ``update_id`` in order."""
        rows = self._db.execute_sql(
            "SELECT part, sealed_content FROM replica_part WHERE update_id = ? ORDER BY part",
            (update_id,),
        ).fetchall()
        return [
            _content_decoder.decode(
                self._sealer.open(sealed, f"replica-part:{update_id}:{part}".encode())
            )
            for part, sealed in rows
        ]

    def drop_staged(self, update_id: str | None = None) -> None:
        """Forget the staged parts of one update (or of all)."""
        self._secure()
        if update_id is None:
            self._db.execute_sql("DELETE FROM replica_part")
        else:
            self._db.execute_sql("DELETE FROM replica_part WHERE update_id = ?", (update_id,))

    def apply(self, parts: list[ReplicaContent], *, full: bool) -> int:
        """Write a whole update (inside the caller's transaction); returns the record count."""
        self._secure()
        if full:
            self._db.execute_sql("DELETE FROM replica_record")
        rows = []
        removed = []
        for part in parts:
            for record in part.records:
                key = self.lookup_key(record.citizen_id)
                sealed = self._sealer.seal(_encoder.encode(record), b"replica-record:" + key)
                rows.append((key, sealed))
            removed += [(self.lookup_key(cid),) for cid in part.removed]
        cursor = self._db.cursor()
        cursor.executemany(
            "INSERT OR REPLACE INTO replica_record (lookup_key, sealed_record) VALUES (?, ?)", rows
        )
        cursor.executemany("DELETE FROM replica_record WHERE lookup_key = ?", removed)
        return self._db.execute_sql("SELECT COUNT(*) FROM replica_record").fetchone()[0]

    def wipe(self, *, stay_wiped: bool = True) -> int:
        """Delete every record and staged part; returns how many records there were.

        ``stay_wiped`` (a wipe command) also stops the station asking for a replica until a
        refresh; without it (the station's scope changed) it asks again at once.
        """
        self._secure()
        with self._db.atomic():
            count = self._db.execute_sql("SELECT COUNT(*) FROM replica_record").fetchone()[0]
            self._db.execute_sql("DELETE FROM replica_record")
            self._db.execute_sql("DELETE FROM replica_part")
            self.set_state(
                cursor=None,
                as_of=None,
                records=0,
                wiped=int(stay_wiped),
                pending_request=None,
                building=None,
            )
        # The old pages may still sit in the WAL: copy back and truncate it.
        self._db.execute_sql("PRAGMA wal_checkpoint(TRUNCATE)")
        return count
