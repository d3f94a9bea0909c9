"""The station's notice board: what arrived, kept in the store, shown while current."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import UTC, datetime

import paho.mqtt.client as mqtt
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from contract import ContractError, decode
from contract.notices import Notice, station_filters, verify_notice
from device.store import Store
from device.sync.link import Link

log = logging.getLogger(__name__)


def _stamp(at: datetime) -> str:
    """A fixed-width UTC time, so the store compares times as text."""
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class NoticeBoard:
    """Receives, keeps and lists the notices of one station.

    ``clock`` decides what is showing (the station's clock; tests move it). Listeners added
    with :meth:`on_change` hear of every notice kept (on the network thread).
    """

    def __init__(
        self,
        store: Store,
        link: Link,
        *,
        district: str | None,
        building: str | None,
        server_key: Ed25519PublicKey | None,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        self._db = store.db
        self.district = district
        self.building = building
        self._key = server_key
        self.clock = clock or store.clock
        self._listeners: list[Callable[[], None]] = []
        self._lock = threading.Lock()
        link.route_filters(station_filters(district, building), self._on_message)

    def on_change(self, listener: Callable[[], None]) -> None:
        """Call ``listener`` after a notice is kept or withdrawn."""
        self._listeners.append(listener)

    def current(self, now: datetime | None = None) -> list[Notice]:
        """The notices showing now, the latest start first."""
        stamp = _stamp(now or self.clock())
        with self._lock:
            rows = self._db.execute_sql(
                "SELECT payload FROM notice WHERE withdrawn = 0 AND starts_at <= ? AND ends_at > ?"
                " ORDER BY starts_at DESC, notice_id",
                (stamp, stamp),
            ).fetchall()
        return [decode(bytes(row[0]), Notice) for row in rows]

    def purge(self, now: datetime | None = None) -> int:
        """Forget the notices that have ended; how many."""
        with self._lock, self._db.atomic():
            cursor = self._db.execute_sql(
                "DELETE FROM notice WHERE ends_at <= ?", (_stamp(now or self.clock()),)
            )
            return cursor.rowcount

    def keep(self, payload: bytes) -> Notice | None:
        """Verify and keep one notice as it arrived; ``None`` when it is refused."""
        if self._key is None:
            log.warning("notice refused: the station has no server key to verify it")
            return None
        try:
            notice = decode(payload, Notice)
            verify_notice(
                payload,
                notice,
                server_public=self._key,
                district=self.district,
                building=self.building,
            )
        except ContractError as exc:
            log.warning("notice refused: %s", exc)
            return None
        with self._lock, self._db.atomic():
            # A withdrawal is final: a copy of the notice arriving later on another of its
            # topics does not bring it back.
            self._db.execute_sql(
                "INSERT INTO notice (notice_id, issued_at, starts_at, ends_at, withdrawn, payload)"
                " VALUES (?, ?, ?, ?, ?, ?)"
                " ON CONFLICT (notice_id) DO UPDATE SET withdrawn = MAX(withdrawn,"
                " excluded.withdrawn), payload = CASE WHEN withdrawn > excluded.withdrawn"
                " THEN payload ELSE excluded.payload END",
                (
                    notice.notice_id,
                    _stamp(notice.issued_at),
                    _stamp(notice.starts_at),
                    _stamp(notice.ends_at),
                    int(notice.withdrawn),
                    payload,
                ),
            )
        for listener in self._listeners:
            listener()
        return notice

    def _on_message(self, message: mqtt.MQTTMessage) -> None:
        if not message.payload:
            return  # a cleared retained topic: the notice still ends on its own
        self.keep(message.payload)
