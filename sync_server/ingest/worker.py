"""The ingest worker: an MQTT 5 shared-subscription consumer that applies and acks.

Run several side by side (``dcs-server ingest``): the broker spreads the station topics over
the ``$share/ingest`` group. A worker is stateless apart from its persistent MQTT session.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime

import paho.mqtt.client as mqtt
import peewee
from paho.mqtt.subscribeoptions import SubscribeOptions

from contract import (
    MAX_PAYLOAD_BYTES,
    AckItem,
    Channel,
    CommandResult,
    ContractError,
    DiagnosticsPart,
    Heartbeat,
    Presence,
    SchemaError,
    decode,
    fleet_filter,
    parse_station_topic,
    shared_filter,
    station_topic,
)
from contract.batch import Refused, ack_payloads, decode_transactions
from contract.failpoints import hit
from contract.transport import (
    INGEST,
    KEEPALIVE_S,
    LOOKUP,
    QOS,
    SERVER_RECONNECT_MAX_S,
    SERVER_RECONNECT_MIN_S,
    SESSION_EXPIRY_S,
    BrokerSettings,
    connect_properties,
    new_client,
    server_client_id,
)
from sync_server.budgets import StationBudgets
from sync_server.dashboard.rejections import raise_rejected
from sync_server.db import utc_now
from sync_server.ingest.apply import Received, apply_batch
from sync_server.ingest.heartbeats import (
    ReceivedBeat,
    ReceivedPresence,
    store_heartbeats,
    store_presences,
)
from sync_server.ingest.lookup import LookupResponder
from sync_server.ingest.lookup_connection import LookupConnection
from sync_server.ingest.refusals import digest, record_oversized, record_refusal
from sync_server.ops.beats import Beater

log = logging.getLogger(__name__)

_STOP = object()
#: One commit takes messages up to about this many bytes: with batched transactions
#: (contract/batch.py) 500 messages could hold 100,000 of them, a commit too long to hold
#: locks and memory for. 1 MiB is about 1,700 petitions.
BATCH_BYTES = 1 << 20


@dataclass(frozen=True)
class _Inbound:
    topic: str
    payload: bytes
    received_at: datetime
    mid: int = 0
    qos: int = 0


@dataclass(frozen=True)
class _Oversized:
    """A message refused on arrival for its size: only what the record of it needs."""

    topic: str
    size: int
    payload_sha256: str
    mid: int = 0
    qos: int = 0


@dataclass
class _Decoded:
    """A batch of messages and what the apply thread stores of it."""

    batch: list[_Inbound | _Oversized]
    transactions: list[Received] = field(default_factory=list)
    beats: list[ReceivedBeat] = field(default_factory=list)
    presences: list[ReceivedPresence] = field(default_factory=list)


class IngestWorker:
    """Consumes station messages, applies transactions in batches, acks after commit."""

    def __init__(
        self,
        db: peewee.Database,
        broker: BrokerSettings,
        *,
        worker_id: str = "1",
        group: str = "ingest",
        batch_size: int = 500,
        queue_size: int = 2_000,
        budgets: StationBudgets | None = None,
        beater: Beater | None = None,
        lookups: bool = True,
    ) -> None:
        """``beater`` records the worker's heartbeat (``ingest:<worker_id>``) for readiness,
        while it is connected to the broker: a worker cut off from it stops beating.
        ``lookups=False`` leaves live lookups to a process of their own (``dcs-server
        lookup``), unless the deployment has no certificate for one yet: then this worker
        answers them on its own connection, as before."""
        self._client: mqtt.Client | None = None
        self._beater = beater or Beater(f"ingest:{worker_id}")
        self._db = db
        self._broker = broker
        self._group = group
        self._batch_size = batch_size
        # Unbounded as a queue: the broker bounds what is in it (see _on_message).
        self._inbox: queue.Queue = queue.Queue()
        # Decoded batches waiting for the apply thread: two at most (about 2 MiB).
        self._decoded: queue.Queue = queue.Queue(maxsize=2)
        self._queue_size = queue_size
        self.dropped_telemetry = 0
        self._threads: list[threading.Thread] = []
        #: Set while the worker is connected and its lookup connection subscribed.
        self.connected = threading.Event()
        self._main_up = False
        self.applied = 0
        self.duplicates = 0
        self.rejected = 0

        client = new_client(server_client_id(INGEST, worker_id), broker)
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_message = self._on_message
        client.reconnect_delay_set(SERVER_RECONNECT_MIN_S, SERVER_RECONNECT_MAX_S)
        # PUBACK after processing, not on arrival: the broker then has at most its in-flight
        # window (max_inflight_messages) of QoS 1 messages out to this worker, and paho's
        # network thread never has to stop reading to hold the backlog back. It used to
        # block on a full inbox: lookups (QoS 0) waited behind the whole backlog in the
        # socket, and timed out at every kiosk (bench/city.py, 560 of 567).
        client.manual_ack_set(True)
        self._client = client
        #: Where lookups are answered: their own connection, this one (``_shared_lookups``)
        #: or another process (``None``).
        self._lookup_connection: LookupConnection | None = None
        self.lookups: LookupResponder | None = None
        self._shared_lookups = False
        if not lookups and not _lookup_identity_exists(broker, worker_id):
            # Nothing else can answer them: the lookup process needs that identity too.
            lookups = True
        if lookups:
            try:
                self._lookup_connection = LookupConnection(
                    db,
                    broker,
                    worker_id=worker_id,
                    record=self._record,
                    on_oversized=self._oversized_lookup,
                    budgets=budgets,
                    on_change=self._update_connected,
                )
                self.lookups = self._lookup_connection.responder
            except FileNotFoundError:
                # A deployment upgraded in place, its broker configuration not yet re-issued.
                log.warning(
                    "no certificate for %s: live lookups share the ingest's connection and "
                    "wait behind its backlog (`dcs-provision broker config` issues it)",
                    server_client_id(LOOKUP, worker_id),
                )
                self._shared_lookups = True
                self.lookups = LookupResponder(db, client, record=self._record, budgets=budgets)

    # -- lifecycle -----------------------------------------------------------------------

    def start(self) -> IngestWorker:
        """Connect and start consuming in the background."""
        self._threads = [
            threading.Thread(target=self._decode_loop, name="dcs-ingest-decode", daemon=True),
            threading.Thread(target=self._apply_loop, name="dcs-ingest-apply", daemon=True),
        ]
        for thread in self._threads:
            thread.start()
        if self._lookup_connection is not None:
            self._lookup_connection.start()
        elif self.lookups is not None:
            self.lookups.start()
        self._client.connect_async(
            self._broker.host,
            self._broker.port,
            keepalive=KEEPALIVE_S,
            clean_start=False,
            properties=connect_properties(SESSION_EXPIRY_S),
        )
        self._client.loop_start()
        return self

    def stop(self) -> None:
        """Stop consuming; what is queued locally but unacked is redelivered later."""
        self._client.disconnect()
        self._client.loop_stop()
        if self._lookup_connection is not None:
            self._lookup_connection.stop()
        elif self.lookups is not None:
            self.lookups.stop()
        if self._threads:
            self._inbox.put(_STOP)  # the decode thread passes it on to the apply thread
            for thread in self._threads:
                thread.join()
            self._threads = []

    def __enter__(self) -> IngestWorker:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    # -- network thread ------------------------------------------------------------------

    def _on_connect(self, client, userdata, flags, reason_code, properties) -> None:
        if reason_code.is_failure:
            log.error("broker refused the ingest worker: %s", reason_code)
            return
        subscriptions = [
            (shared_filter(self._group, Channel.TX), SubscribeOptions(qos=QOS)),
            (shared_filter(self._group, Channel.TELEMETRY), SubscribeOptions(qos=QOS)),
            (shared_filter(self._group, Channel.COMMAND_RESULT), SubscribeOptions(qos=QOS)),
            (shared_filter(self._group, Channel.DIAGNOSTICS), SubscribeOptions(qos=QOS)),
            # Not shared: shared subscriptions never deliver retained messages, and each
            # worker needs the fleet's current presence when it starts.
            (fleet_filter(Channel.PRESENCE), SubscribeOptions(qos=QOS)),
        ]
        if self._shared_lookups:
            subscriptions.append((shared_filter(LOOKUP, Channel.LOOKUP), SubscribeOptions(qos=QOS)))
        else:
            # The persistent session of a release before the lookup connection still holds
            # this subscription: left there, half the lookups would wait behind the backlog.
            client.unsubscribe(shared_filter(LOOKUP, Channel.LOOKUP))
        client.subscribe(subscriptions)
        self._main_up = True
        self._update_connected()
        log.info("ingest worker connected")

    def _update_connected(self) -> None:
        """:attr:`connected`: this connection up, and the lookup connection if it has one."""
        lookups_up = self._lookup_connection is None or self._lookup_connection.up.is_set()
        if self._main_up and lookups_up:
            self.connected.set()
        else:
            self.connected.clear()

    def _on_disconnect(self, client, userdata, flags, reason_code, properties) -> None:
        self._main_up = False
        self._update_connected()
        log.warning("ingest worker disconnected: %s", reason_code)

    def _oversized_lookup(self, topic: str, size: int, payload_sha256: str) -> None:
        # The apply thread records it, as an oversized message of this connection.
        self._inbox.put(_Oversized(topic, size, payload_sha256))

    def _on_message(self, client, userdata, message: mqtt.MQTTMessage) -> None:
        payload = message.payload
        if len(payload) > MAX_PAYLOAD_BYTES:
            # Refused before it is queued or decoded: up to the broker's packet limit per
            # message would otherwise sit in the inbox and the lookup queue.
            self._inbox.put(
                _Oversized(message.topic, len(payload), digest(payload), message.mid, message.qos)
            )
            return
        if message.topic.endswith("/" + Channel.LOOKUP.value):
            # Only with shared lookups (an older deployment) or a stale subscription.
            self._ack(message.mid, message.qos)  # answered once or never (REQUEST_QOS)
            if self.lookups is not None:
                self.lookups.submit(message)
            return
        if message.qos == 0 and self._inbox.qsize() >= self._queue_size:
            # QoS 0 (heartbeats) is outside the broker's in-flight window: shed it when the
            # apply thread is this far behind; the station's next heartbeat replaces it.
            self.dropped_telemetry += 1
            return
        self._inbox.put(
            _Inbound(message.topic, message.payload, utc_now(), message.mid, message.qos)
        )

    def _ack(self, mid: int, qos: int) -> None:
        """PUBACK a QoS 1 message (safe from any thread: paho queues the packet)."""
        if qos > 0:
            self._client.ack(mid, qos)

    # -- decode and apply threads --------------------------------------------------------
    #
    # Two stages, so that decoding the next batch overlaps the database's work on this one
    # (the apply thread waits on the database with the interpreter released): on PostgreSQL
    # the worker's own time and the database's were spent one after the other
    # (bench/sync.py). The rare messages that write on their own (refusals, command
    # results, diagnostics) are written by the decode thread; transactions, presence and
    # heartbeats by the apply thread, which acks each message to the broker afterwards.

    def _decode_loop(self) -> None:
        with self._db.connection_context():
            while True:
                first = self._inbox.get()
                if first is _STOP:
                    self._decoded.put(_STOP)
                    return
                batch = [first]
                size = _size(first)
                stopping = False
                while len(batch) < self._batch_size and size < BATCH_BYTES:
                    try:
                        item = self._inbox.get_nowait()
                    except queue.Empty:
                        break
                    if item is _STOP:
                        stopping = True
                        break
                    batch.append(item)
                    size += _size(item)
                self._decoded.put(self._decode(batch))
                if stopping:
                    self._decoded.put(_STOP)
                    return

    def _apply_loop(self) -> None:
        with self._db.connection_context():
            while True:
                try:
                    decoded = self._decoded.get(timeout=self._beater.interval.total_seconds() / 2)
                except queue.Empty:
                    decoded = None
                if self.connected.is_set():
                    self._beater()
                if decoded is None:
                    continue
                if decoded is _STOP:
                    return
                try:
                    self._store(decoded)
                except peewee.DatabaseError:
                    # No ack reached the stations: they will send the batch again.
                    log.exception(
                        "database error; %d messages left for redelivery", len(decoded.batch)
                    )
                finally:
                    # To the broker, each message is done either way: one left unacked
                    # would hold a slot of the in-flight window until the next reconnect.
                    for item in decoded.batch:
                        self._ack(item.mid, item.qos)

    def _decode(self, batch: list[_Inbound | _Oversized]) -> _Decoded:
        decoded = _Decoded(batch)
        try:
            for item in batch:
                self._decode_one(item, decoded)
        except peewee.DatabaseError:
            # A command result or diagnostics part could not be stored: none of the batch's
            # transactions is applied or acked to its station, which sends them again.
            log.exception("database error; %d messages left for redelivery", len(batch))
            return _Decoded(batch)
        return decoded

    def _decode_one(self, item: _Inbound | _Oversized, decoded: _Decoded) -> None:
        if isinstance(item, _Oversized):
            self._reject_oversized(item)
            return
        try:
            station_id, channel = parse_station_topic(item.topic)
        except ContractError as exc:
            self._reject(item.topic, None, None, str(exc), item.payload)
            return
        if channel is Channel.TX:
            decoded.transactions += self._decode_tx(item, station_id)
        elif channel is Channel.TELEMETRY:
            if (beat := self._heartbeat(item, station_id)) is not None:
                decoded.beats.append(beat)
        elif channel is Channel.PRESENCE:
            if (presence := self._presence(item, station_id)) is not None:
                decoded.presences.append(presence)
        elif channel is Channel.COMMAND_RESULT:
            self._command_result(item, station_id)
        elif channel is Channel.DIAGNOSTICS:
            self._diagnostics(item, station_id)

    def _store(self, decoded: _Decoded) -> None:
        if decoded.transactions:
            self._apply(decoded.transactions)
        if decoded.presences:
            store_presences(self._db, decoded.presences)
        if decoded.beats:
            # QoS 0 telemetry: a database error loses these beats, and the next ones replace them.
            store_heartbeats(self._db, decoded.beats)

    def _decode_tx(self, item: _Inbound, station_id: str) -> list[Received]:
        """The transactions of one ``tx`` message (a single one or a batch), each judged on
        its own: one bad transaction in a batch never holds back the others."""
        try:
            decoded = decode_transactions(item.payload)
        except ContractError as exc:
            self._reject(item.topic, station_id, None, str(exc), item.payload)
            self._alarm(station_id, str(exc))
            return []
        received: list[Received] = []
        refusals: list[AckItem] = []
        for tx in decoded:
            if isinstance(tx, Refused):
                reason = str(tx.error)
            elif tx.station_id != station_id:
                reason = "station id in the payload does not match the topic"
                tx = Refused(SchemaError(reason), tx.tx_id)
            else:
                received.append(Received(tx=tx, received_at=item.received_at))
                continue
            self._reject(item.topic, station_id, tx.tx_id, reason, item.payload)
            self._alarm(station_id, reason)
            if tx.tx_id is not None:
                # The broker authenticated the topic's station as the sender: tell it, so a
                # misconfigured station sets the transaction aside instead of retrying forever.
                refusals.append(AckItem(tx_id=tx.tx_id, outcome="rejected", reason=reason))
        if refusals:
            self._send_acks(station_id, refusals)
        return received

    def _apply(self, transactions: list[Received]) -> None:
        acks, rejected = apply_batch(self._db, transactions)
        hit("server.after_apply")
        for received, reason in rejected:
            self._reject(
                station_topic(received.tx.station_id, Channel.TX),
                received.tx.station_id,
                received.tx.tx_id,
                reason,
                b"",
            )
            self._alarm(received.tx.station_id, reason)
        for station_id, items in acks.items():
            tally = counts(items)
            self.applied += tally.get("applied", 0)
            self.duplicates += tally.get("duplicate", 0)
            self._send_acks(station_id, items)

    def _alarm(self, station_id: str, reason: str) -> None:
        """A refused transaction is lost to the server: tell the operators (one open alarm)."""
        try:
            if raise_rejected(station_id, reason):
                log.error("a transaction of %s was refused; alarm raised", station_id)
        except peewee.DatabaseError:
            log.exception("could not raise the rejected-transaction alarm")

    def _send_acks(self, station_id: str, items: list[AckItem]) -> None:
        for payload in ack_payloads(station_id, items, utc_now()):
            self._client.publish(station_topic(station_id, Channel.ACK), payload, qos=QOS)

    def _heartbeat(self, item: _Inbound, station_id: str) -> ReceivedBeat | None:
        try:
            beat = decode(item.payload, Heartbeat)
        except ContractError as exc:
            self._reject(item.topic, station_id, None, str(exc), item.payload)
            return None
        if beat.station_id != station_id:
            self._reject(item.topic, station_id, None, "station id mismatch", item.payload)
            return None
        return ReceivedBeat(station_id, beat, item.received_at)

    def _presence(self, item: _Inbound, station_id: str) -> ReceivedPresence | None:
        if not item.payload:
            return None  # a cleared retained message
        try:
            presence = decode(item.payload, Presence)
        except ContractError as exc:
            self._reject(item.topic, station_id, None, str(exc), item.payload)
            return None
        if presence.station_id != station_id:
            self._reject(item.topic, station_id, None, "station id mismatch", item.payload)
            return None
        return ReceivedPresence(
            station_id, presence.state, presence.software_version, item.received_at
        )

    def _command_result(self, item: _Inbound, station_id: str) -> None:
        try:
            result = decode(item.payload, CommandResult)
        except ContractError as exc:
            self._reject(item.topic, station_id, None, str(exc), item.payload)
            return
        if result.station_id != station_id:
            self._reject(item.topic, station_id, None, "station id mismatch", item.payload)
            return
        from sync_server.dashboard.commands import settle

        if not settle(result, item.received_at):
            log.warning("a result for a command this server did not send, from %s", station_id)
        log.info("command %s on %s: %s", result.command_id, station_id, result.status)

    def _diagnostics(self, item: _Inbound, station_id: str) -> None:
        """A part of a diagnostics bundle: kept only if a command of ours asked for it."""
        from sync_server.diagnostics.receive import DiagnosticsRefused, accept_part

        try:
            part = decode(item.payload, DiagnosticsPart)
            outcome = accept_part(part, station_id, item.received_at)
        except (ContractError, DiagnosticsRefused) as exc:
            self._reject(item.topic, station_id, None, str(exc), item.payload)
            return
        if outcome == "complete":
            log.info("diagnostics bundle of %s received (command %s)", station_id, part.command_id)

    def _reject_oversized(self, item: _Oversized) -> None:
        record_oversized(self._record, item.topic, item.size, item.payload_sha256)

    def _reject(
        self,
        topic: str,
        station_id: str | None,
        tx_id: str | None,
        reason: str,
        payload: bytes,
    ) -> None:
        self._record(topic, station_id, tx_id, reason, len(payload), digest(payload))

    def _record(
        self,
        topic: str,
        station_id: str | None,
        tx_id: str | None,
        reason: str,
        size: int,
        payload_sha256: str,
    ) -> None:
        """Keep a refused message's topic, reason, size and hash (never its content)."""
        self.rejected += 1
        record_refusal(self._db, topic, station_id, tx_id, reason, size, payload_sha256)


def _lookup_identity_exists(broker: BrokerSettings, worker_id: str) -> bool:
    """Whether the deployment has the certificate of ``dcs-lookup-<worker_id>`` (a server
    upgraded in place may not, until its broker configuration is issued again)."""
    try:
        broker.client_certificate(server_client_id(LOOKUP, worker_id))
    except FileNotFoundError:
        return False
    return True


def _size(item: object) -> int:
    return len(item.payload) if isinstance(item, _Inbound) else 0


def counts(items: Iterable[AckItem]) -> dict[str, int]:
    """How many ack items of each outcome."""
    result: dict[str, int] = {}
    for item in items:
        result[item.outcome] = result.get(item.outcome, 0) + 1
    return result
