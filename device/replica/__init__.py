"""The station's replica: the records of the residents it serves, for lookups offline.

``station.replica.insured_record(citizen_id)`` returns the whole record (summary, hospital,
contributions, benefits, old-age savings, and the date it is as of) or ``None``; it never
needs the network. The replica arrives from the server over the contract's ``replica``
topic, sealed for this station and signed by the server (``contract/replica_seal.py``),
and is kept encrypted at rest (``device/replica/store.py``).

How it stays current: at every connect the station asks for what changed since its cursor
(everything, the first time); the server pushes deltas when records change; a delta that
does not start at the station's cursor is ignored and the station asks again. Commands:
``refresh_replica`` fetches it whole, ``wipe_replica`` deletes it and asks for nothing until
the next refresh. A part that is not signed by the server's key, not for this station's key,
changed on the way, outside this station's building, or a full update it did not ask for,
is rejected and counted; nothing of it is stored.
"""

from __future__ import annotations

import logging
import threading
import uuid
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

import msgspec
import paho.mqtt.client as mqtt
import peewee

from contract import (
    Channel,
    ContractError,
    InsuredRecord,
    ReplicaContent,
    ReplicaMessage,
    ReplicaRefusal,
    ReplicaRequest,
    decode,
    encode,
)
from contract.replica_seal import ReplicaSealError, open_part, raw_public
from device.config import ReplicaConfig, StationConfig
from device.replica.keys import load_or_create_station_key, server_public_key
from device.replica.store import ReplicaState, ReplicaStore
from device.store import Store, load_key
from device.store.crypto import SealedDataError
from device.sync import SyncAgent
from device.sync.link import Link

__all__ = ["Replica", "ReplicaState", "attach_replica"]

log = logging.getLogger(__name__)

_content_decoder = msgspec.json.Decoder(ReplicaContent)


class ReplicaRejected(Exception):
    """A replica part that must not be stored; the message says why (no personal data)."""


#: Times an update that could not be stored is asked for again before waiting for a reconnect.
MAX_IMMEDIATE_RETRIES = 3


class Replica:
    """One station's replica: receives updates, answers lookups, wipes itself on command."""

    def __init__(
        self,
        store: Store,
        link: Link,
        config: ReplicaConfig | None,
        *,
        store_key: bytes,
        secrets_dir: Path,
        clock: Callable[[], datetime],
    ) -> None:
        self.config = config
        self._store = ReplicaStore(store, store_key)
        self._link = link
        self._clock = clock
        self._lock = threading.RLock()
        self._station_key = None
        self._server_key = None
        if config is not None:
            self._station_key = load_or_create_station_key(Path(secrets_dir) / config.key_file)
            self._server_key = server_public_key(config.server_public_key)
        #: Parts refused (forged, tampered, out of scope, unrequested) and updates applied.
        self.rejected = 0
        self.applied = 0
        #: Updates that arrived whole but could not be stored, in a row (reset on success).
        self.store_failures = 0
        self._listeners: list[Callable[[], None]] = []
        link.route(Channel.REPLICA, self.receive)
        link.on_connected(self._on_connected)
        self._forget_foreign_scope()

    def _forget_foreign_scope(self) -> None:
        """Drop at once a replica of another building (or any, with no ``[replica]`` now):
        the station never keeps residents it no longer serves."""
        state = self._store.state()
        if state.records == 0 and state.building is None:
            return
        if self.config is None or state.building != self.config.building:
            self._store.wipe(stay_wiped=False)
            log.info("replica of a building this station no longer serves: deleted")

    # -- what the kiosk calls ------------------------------------------------------------

    @property
    def enabled(self) -> bool:
        """Whether this station keeps a replica at all (``[replica]`` in its config)."""
        return self.config is not None

    def insured_record(self, citizen_id: str) -> InsuredRecord | None:
        """The whole record of a resident this station serves, or ``None``.

        The record's ``as_of`` is the date the master data is as of; :attr:`state` says when
        the replica itself was last brought up to date.
        """
        try:
            return self._store.record(citizen_id)
        except (SealedDataError, msgspec.ValidationError, msgspec.DecodeError):
            log.error("a replica record does not open with this store's key")
            return None

    def resident_names(self) -> list[str]:
        """The names of every resident held (Thai and English), for the diagnostics redactor
        only: it masks them in what leaves the station. Never logged."""
        names: list[str] = []
        for record in self._store.all_records():
            names.append(record.summary.full_name_th)
            if record.summary.full_name_en:
                names.append(record.summary.full_name_en)
        return names

    @property
    def state(self) -> ReplicaState:
        """Building, cursor, as-of time, record count, wiped flag, last refusal."""
        return self._store.state()

    def on_update(self, listener: Callable[[], None]) -> None:
        """Call ``listener`` after each applied update or wipe (tests, the kiosk's status)."""
        self._listeners.append(listener)

    def metrics(self) -> dict[str, float]:
        """Heartbeat gauges: records held and the replica's age in seconds."""
        state = self.state
        gauges = {"replica_records": float(state.records)}
        if state.as_of is not None:
            gauges["replica_age_s"] = max(0.0, (self._clock() - state.as_of).total_seconds())
        return gauges

    # -- requests and commands -------------------------------------------------------------

    def request(self, *, full: bool = False) -> str | None:
        """Ask the server for the replica (what changed since the cursor, or all of it).

        Returns the request id, or ``None`` when there is no replica, it was wiped, or the
        station is offline (it asks again at the next connect).
        """
        if not self.enabled:
            return None
        with self._lock:
            state = self._store.state()
            if state.wiped or not self._link.connected:
                return None
            request_id = uuid.uuid4().hex
            # An update that was half received is sent again whole: drop its parts.
            with self._store.atomic():
                self._store.drop_staged()
                self._store.set_state(pending_request=request_id)
            known = None if full or state.building != self.config.building else state.cursor
            message = ReplicaRequest(
                station_id=self._link.station_id,
                request_id=request_id,
                building=self.config.building,
                public_key=raw_public(self._station_key.public_key()),
                cursor=known,
                full=full,
                station_time=self._clock(),
            )
            self._link.publish(Channel.REPLICA_REQUEST, encode(message))
            return request_id

    def refresh(self) -> str:
        """The ``refresh_replica`` command: lift a wipe and fetch the whole replica."""
        if not self.enabled:
            raise RuntimeError("this station has no replica configured")
        with self._lock:
            self._store.set_state(wiped=0)
        if self.request(full=True) is None:
            return "offline: the full replica is requested at the next connect"
        return "full replica requested"

    def wipe(self) -> str:
        """The ``wipe_replica`` command: delete every record; ask for none until a refresh."""
        with self._lock:
            count = self._store.wipe()
        log.info("replica wiped")
        self._notify()
        return f"replica wiped ({count} records)"

    def _on_connected(self) -> None:
        self.request()

    # -- receiving (network thread) --------------------------------------------------------

    def receive(self, message: mqtt.MQTTMessage) -> None:
        """Handle one message of the ``replica`` topic."""
        try:
            self._receive(message.payload)
        except ReplicaRejected as exc:
            self.rejected += 1
            log.warning("replica part rejected: %s", exc)
        except peewee.PeeweeException as exc:
            # The update rolled back whole; without asking again the station would wait for
            # a replica that the server thinks it already sent. A few immediate retries, then
            # the next connect: a disk that keeps failing must not loop at network speed.
            self.store_failures += 1
            again = self.store_failures <= MAX_IMMEDIATE_RETRIES
            log.error(
                "replica update not stored (%s); asking again %s",
                type(exc).__name__,
                "now" if again else "at the next connect",
            )
            if again:
                self.request()

    def _receive(self, payload: bytes) -> None:
        try:
            message = decode(payload, ReplicaMessage)
        except ContractError as exc:
            raise ReplicaRejected(f"malformed: {exc}") from None
        if message.station_id != self._link.station_id:
            raise ReplicaRejected("addressed to another station")
        if isinstance(message, ReplicaRefusal):
            log.warning("the server refused the replica: %s", message.reason)
            self._store.set_state(last_refusal=message.reason)
            return
        if not self.enabled:
            raise ReplicaRejected("this station has no replica configured")
        try:
            raw = open_part(
                message,
                station_id=self._link.station_id,
                station_key=self._station_key,
                server_public=self._server_key,
            )
            content = _content_decoder.decode(raw)
        except ReplicaSealError as exc:
            raise ReplicaRejected(str(exc)) from None
        except (msgspec.ValidationError, msgspec.DecodeError) as exc:
            raise ReplicaRejected(f"content does not match the contract: {exc}") from None
        self._check_scope(content)
        with self._lock:
            self._check_expected(content, self._store.state())
            if self._store.stage(content, raw) < content.parts:
                return
            self._apply(content.update_id, content.mode == "full")

    def _check_scope(self, content: ReplicaContent) -> None:
        if content.station_id != self._link.station_id:
            raise ReplicaRejected("content addressed to another station")
        building = self.config.building
        if content.building != building or any(r.building != building for r in content.records):
            raise ReplicaRejected("records outside this station's building")

    def _check_expected(self, content: ReplicaContent, state: ReplicaState) -> None:
        if content.mode == "full":
            if content.request_id is None or content.request_id != state.pending_request:
                raise ReplicaRejected("a full replica this station did not ask for")
            return
        if state.wiped or state.cursor is None:
            raise ReplicaRejected("a delta while the station holds no replica")
        if content.cursor <= state.cursor:
            raise ReplicaRejected("a delta the station already has")
        if content.base_cursor is None or content.base_cursor > state.cursor:
            # Not an attack: the station missed a delta (the broker may drop one). Each delta
            # carries whole records, so one from the station's own cursor puts it right.
            if content.part == 1:
                log.info("replica delta starts past this station's cursor; asking again")
                self.request()
            raise ReplicaRejected("a delta that starts past this station's cursor")
        # base <= cursor < content.cursor: the records are whole and newer, so it applies.

    def _apply(self, update_id: str, full: bool) -> None:
        with self._store.atomic():
            parts = self._store.staged(update_id)
            last = parts[-1]
            try:
                # Another update may have landed while this one's parts were arriving.
                self._check_expected(last, self._store.state())
            except ReplicaRejected:
                self._store.drop_staged(update_id)
                raise
            count = self._store.apply(parts, full=full)
            fields = {
                "building": last.building,
                "cursor": last.cursor,
                "as_of": last.as_of.isoformat(),
                "updated_at": self._clock().isoformat(),
                "records": count,
                "last_refusal": None,
            }
            if full or last.request_id is not None:
                fields["pending_request"] = None
            self._store.set_state(**fields)
            if full:
                self._store.drop_staged()
            else:
                self._store.drop_staged(update_id)
        self.applied += 1
        self.store_failures = 0
        log.info("replica %s applied: %d records held", "full" if full else "delta", count)
        self._notify()

    def _notify(self) -> None:
        for listener in self._listeners:
            try:
                listener()
            except Exception:
                log.exception("a replica listener failed")


def attach_replica(
    config: StationConfig, store: Store, sync: SyncAgent, clock: Callable[[], datetime]
) -> Replica:
    """The station's replica wired to its link, its commands and its heartbeat."""
    replica = Replica(
        store,
        sync.link,
        config.replica,
        store_key=load_key(config.store_key_path),
        secrets_dir=Path(config.secrets_dir),
        clock=clock,
    )
    sync.commands.register("refresh_replica", lambda args: replica.refresh())
    sync.commands.register("wipe_replica", lambda args: replica.wipe())
    if replica.enabled:
        sync.metric_sources.append(replica.metrics)
    return replica
