"""The ingest worker: an MQTT 5 shared-subscription consumer that applies and acks.

Run several side by side (``dcs-server ingest``): the broker spreads the station topics over
the ``$share/ingest`` group. A worker is stateless apart from its persistent MQTT session.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Iterable

import paho.mqtt.client as mqtt
import peewee
from paho.mqtt.subscribeoptions import SubscribeOptions

from contract import (
    MAX_PAYLOAD_BYTES,
    AckItem,
    Channel,
    fleet_filter,
    shared_filter,
    station_topic,
)
from contract.batch import ack_payloads
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
from sync_server.ingest.decode import Decoded, Decoder, Inbound, Oversized, size_of
from sync_server.ingest.heartbeats import store_heartbeats, store_presences
from sync_server.ingest.lookup import LookupResponder
from sync_server.ingest.lookup_connection import LookupConnection
from sync_server.ingest.refusals import digest, record_refusal
from sync_server.ops.beats import Beater

log = logging.getLogger(__name__)

_STOP = object()
#: One commit takes messages up to about this many bytes: with batched transactions
#: (contract/batch.py) 500 messages could hold 100,000 of them, a commit too long to hold
#: locks and memory for. 1 MiB is about 1,700 petitions.
BATCH_BYTES = 1 << 20


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
        self._decoder = Decoder(self._record, self._send_acks, self._alarm)
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
        if not _lookup_identity_exists(broker, worker_id):
            # A deployment upgraded in place, its broker configuration not yet re-issued:
            # nothing else can answer lookups (the lookup process needs that identity too).
            log.warning(
                "no certificate for %s: live lookups share the ingest's connection and "
                "wait behind its backlog (`dcs-provision broker config` issues it)",
                server_client_id(LOOKUP, worker_id),
            )
            self._shared_lookups = True
            self.lookups = LookupResponder(db, client, record=self._record, budgets=budgets)
        elif lookups:
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
        self._inbox.put(Oversized(topic, size, payload_sha256))

    def _on_message(self, client, userdata, message: mqtt.MQTTMessage) -> None:
        payload = message.payload
        if len(payload) > MAX_PAYLOAD_BYTES:
            # Refused before it is queued or decoded: up to the broker's packet limit per
            # message would otherwise sit in the inbox and the lookup queue.
            self._inbox.put(
                Oversized(message.topic, len(payload), digest(payload), message.mid, message.qos)
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
            Inbound(message.topic, message.payload, utc_now(), message.mid, message.qos)
        )

    def _ack(self, mid: int, qos: int) -> None:
        """PUBACK a QoS 1 message (safe from any thread: paho queues the packet)."""
        if qos > 0:
            self._client.ack(mid, qos)

    # -- decode and apply threads --------------------------------------------------------
    #
    # Two stages, so that decoding the next batch (sync_server/ingest/decode.py) overlaps
    # the database's work on this one (the apply thread waits on the database with the
    # interpreter released): on PostgreSQL the worker's own time and the database's were
    # spent one after the other (bench/sync.py). The apply thread stores transactions,
    # presence and heartbeats, and acks each message to the broker afterwards.

    def _decode_loop(self) -> None:
        with self._db.connection_context():
            while True:
                first = self._inbox.get()
                if first is _STOP:
                    self._decoded.put(_STOP)
                    return
                batch = [first]
                size = size_of(first)
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
                    size += size_of(item)
                self._decoded.put(self._decoder.decode(batch))
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

    def _store(self, decoded: Decoded) -> None:
        if decoded.transactions:
            self._apply(decoded.transactions)
        if decoded.presences:
            store_presences(self._db, decoded.presences)
        if decoded.beats:
            # QoS 0 telemetry: a database error loses these beats, and the next ones replace them.
            store_heartbeats(self._db, decoded.beats)

    def _apply(self, transactions: list[Received]) -> None:
        acks, rejected = apply_batch(self._db, transactions)
        hit("server.after_apply")
        for received, reason in rejected:
            self._decoder.reject(
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


def counts(items: Iterable[AckItem]) -> dict[str, int]:
    """How many ack items of each outcome."""
    result: dict[str, int] = {}
    for item in items:
        result[item.outcome] = result.get(item.outcome, 0) + 1
    return result
