"""The replica publisher: answers stations' replica requests and pushes what changed.

Run it as ``dcs-server replicate``. Several can run: requests are spread over the
``$share/replica`` group, and a publisher claims a delta by moving the station's
``sent_cursor`` from the value it read (compare and set) before sending, so two publishers
never push the same delta. Should a station still get a delta whose base is not its cursor,
it ignores it and asks again from its own cursor.

Every request is charged to the station's budgets (``sync_server/budgets``: all requests, and
those for the whole building); a quarantined station is refused and sent no changes.
"""

from __future__ import annotations

import hashlib
import logging
import queue
import threading

import paho.mqtt.client as mqtt
import peewee
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from paho.mqtt.subscribeoptions import SubscribeOptions

from contract import (
    Channel,
    ContractError,
    ReplicaRefusal,
    ReplicaRequest,
    decode,
    encode,
    parse_station_topic,
    shared_filter,
    station_topic,
)
from contract.transport import (
    KEEPALIVE_S,
    QOS,
    REPLICA,
    SERVER_RECONNECT_MAX_S,
    SERVER_RECONNECT_MIN_S,
    SESSION_EXPIRY_S,
    BrokerSettings,
    connect_properties,
    new_client,
    server_client_id,
)
from sync_server.audit import audit
from sync_server.budgets import OverBudgetError, StationBudgets, StationQuarantinedError
from sync_server.budgets import policy as budget
from sync_server.db import utc_now, write_transaction
from sync_server.fleet.quarantine import quarantine_of
from sync_server.ingest.models import RejectedMessage
from sync_server.records.changes import latest_change_id
from sync_server.records.models import RecordChange
from sync_server.replicas.build import Update, delta_update, full_update, seal_update
from sync_server.replicas.models import StationReplica

log = logging.getLogger(__name__)

_STOP = object()


class ReplicaService:
    """Consumes replica requests and, every ``poll_s``, pushes record changes to stations."""

    def __init__(
        self,
        db: peewee.Database,
        broker: BrokerSettings,
        signing_key: Ed25519PrivateKey,
        *,
        worker_id: str = "1",
        group: str = "replica",
        poll_s: float = 5.0,
        budgets: StationBudgets | None = None,
    ) -> None:
        self._budgets = budgets or StationBudgets()
        self._client: mqtt.Client | None = None
        self._thread: threading.Thread | None = None
        self._db = db
        self._broker = broker
        self._signing_key = signing_key
        self._group = group
        self._poll_s = poll_s
        self._requests: queue.Queue = queue.Queue(maxsize=10_000)
        self.connected = threading.Event()
        #: Counters for tests, metrics and the log.
        self.full_sent = 0
        self.deltas_sent = 0
        self.refused = 0
        client = new_client(server_client_id(REPLICA, worker_id), broker)
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_message = self._on_message
        client.reconnect_delay_set(SERVER_RECONNECT_MIN_S, SERVER_RECONNECT_MAX_S)
        self._client = client

    # -- lifecycle -----------------------------------------------------------------------

    def start(self) -> ReplicaService:
        """Connect and start serving in the background."""
        self._thread = threading.Thread(target=self._run, name="dcs-replica", daemon=True)
        self._thread.start()
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
        """Stop serving; safe twice."""
        if self._thread is not None:
            self._requests.put(_STOP)
            self._thread.join()
            self._thread = None
        self._client.disconnect()
        self._client.loop_stop()

    def __enter__(self) -> ReplicaService:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def poke(self) -> None:
        """Look for record changes now instead of at the next poll."""
        self._requests.put(None)

    # -- network thread ------------------------------------------------------------------

    def _on_connect(self, client, userdata, flags, reason_code, properties) -> None:
        if reason_code.is_failure:
            log.error("broker refused the replica publisher: %s", reason_code)
            return
        client.subscribe(
            [(shared_filter(self._group, Channel.REPLICA_REQUEST), SubscribeOptions(qos=QOS))]
        )
        self.connected.set()
        log.info("replica publisher connected")

    def _on_disconnect(self, client, userdata, flags, reason_code, properties) -> None:
        self.connected.clear()
        log.warning("replica publisher disconnected: %s", reason_code)

    def _on_message(self, client, userdata, message: mqtt.MQTTMessage) -> None:
        self._requests.put((message.topic, message.payload))

    # -- worker thread -------------------------------------------------------------------

    def _run(self) -> None:
        with self._db.connection_context():
            while True:
                try:
                    item = self._requests.get(timeout=self._poll_s)
                except queue.Empty:
                    item = None
                if item is _STOP:
                    return
                try:
                    if item is not None:
                        self._request(*item)
                    self._push_changes()
                except peewee.DatabaseError:
                    log.exception("replica step failed; the station asks again at its next connect")

    def _request(self, topic: str, payload: bytes) -> None:
        try:
            station_id, _ = parse_station_topic(topic)
            request = decode(payload, ReplicaRequest)
        except ContractError as exc:
            self._reject(topic, str(exc), payload)
            return
        if request.station_id != station_id:
            self._reject(topic, "station id in the payload does not match the topic", payload)
            return
        enrolment = StationReplica.get_or_none(StationReplica.station_id == station_id)
        reason = _refusal(enrolment, request) or self._over_budget(station_id, request)
        with write_transaction(self._db):
            if enrolment is not None:
                StationReplica.update(
                    last_request_at=utc_now(), station_cursor=request.cursor, last_refusal=reason
                ).where(StationReplica.station_id == station_id).execute()
        if reason is not None:
            self._refuse(station_id, request.request_id, reason)
            return
        cursor = latest_change_id()  # read before the records: later changes come again
        known = request.cursor
        if request.full or known is None or known > cursor:
            update = full_update(enrolment.building, cursor)
        else:
            update = delta_update(enrolment.building, known, cursor)
        self._send(enrolment, update, request.request_id)

    def _over_budget(self, station_id: str, request: ReplicaRequest) -> str | None:
        """Charge the request to the station's budgets; why it is refused, or ``None``."""
        whole = request.full or request.cursor is None
        try:
            self._budgets.charge(
                station_id,
                [budget.REPLICA, budget.REPLICA_FULL] if whole else [budget.REPLICA],
            )
        except StationQuarantinedError:
            return "station quarantined; an operator lifts it on the dashboard"
        except OverBudgetError as exc:
            return f"over its {exc.kind} budget; retry in {exc.retry_after_s:.0f} s"
        return None

    def _push_changes(self) -> None:
        """Send each served station what changed in its building since what it was sent."""
        stations = list(
            StationReplica.select().where(
                StationReplica.suspended == False,  # noqa: E712 - peewee builds SQL from this
                StationReplica.sent_cursor.is_null(False),
            )
        )
        if not stations:
            return
        lowest = min(s.sent_cursor for s in stations)
        newest = dict(
            RecordChange.select(RecordChange.building, peewee.fn.MAX(RecordChange.id))
            .where(RecordChange.id > lowest)
            .group_by(RecordChange.building)
            .tuples()
        )
        if not newest:
            return
        cursor = latest_change_id()
        for station in stations:
            if newest.get(station.building, 0) <= station.sent_cursor:
                continue
            if quarantine_of(station.station_id) is not None:
                continue  # sent from its cursor once an operator lifts the quarantine
            with write_transaction(self._db):
                claimed = (
                    StationReplica.update(sent_cursor=cursor)
                    .where(
                        (StationReplica.station_id == station.station_id)
                        & (StationReplica.sent_cursor == station.sent_cursor)
                    )
                    .execute()
                )
            if claimed:
                update = delta_update(station.building, station.sent_cursor, cursor)
                self._send(station, update, None)

    def _send(self, station: StationReplica, update: Update, request_id: str | None) -> None:
        now = utc_now()
        parts = seal_update(
            update,
            station_id=station.station_id,
            station_public=bytes(station.public_key),
            signing_key=self._signing_key,
            as_of=now,
            request_id=request_id,
        )
        topic = station_topic(station.station_id, Channel.REPLICA)
        for part in parts:
            self._client.publish(topic, encode(part), qos=QOS)
        full = update.mode == "full"
        fields = {
            StationReplica.sent_cursor: update.cursor,
            StationReplica.last_sent_at: now,
            StationReplica.residents_sent: len(update.records),
        }
        if full:
            fields[StationReplica.last_full_at] = now
        with write_transaction(self._db):
            StationReplica.update(fields).where(
                StationReplica.station_id == station.station_id
            ).execute()
            audit(
                "server:replica",
                f"replica.{update.mode}",
                station.station_id,
                f"{len(update.records)} records, {len(update.removed)} removals",
            )
        if full:
            self.full_sent += 1
        else:
            self.deltas_sent += 1
        log.info(
            "replica %s to %s: %d records, %d removals, %d parts, cursor %d",
            update.mode,
            station.station_id,
            len(update.records),
            len(update.removed),
            len(parts),
            update.cursor,
        )

    def _refuse(self, station_id: str, request_id: str | None, reason: str) -> None:
        self.refused += 1
        log.warning("replica refused to %s: %s", station_id, reason)
        refusal = ReplicaRefusal(
            station_id=station_id, request_id=request_id, reason=reason, server_time=utc_now()
        )
        self._client.publish(station_topic(station_id, Channel.REPLICA), encode(refusal), qos=QOS)

    def _reject(self, topic: str, reason: str, payload: bytes) -> None:
        log.warning("rejected a replica request on %s: %s", topic, reason)
        with write_transaction(self._db):
            RejectedMessage.create(
                topic=topic[:255],
                reason=reason[:2000],
                size=len(payload),
                payload_sha256=hashlib.sha256(payload).hexdigest(),
            )


def _refusal(enrolment: StationReplica | None, request: ReplicaRequest) -> str | None:
    """Why the station may not have a replica now, or ``None``."""
    if enrolment is None:
        return "station is not enrolled for a replica"
    if enrolment.suspended:
        return "replica suspended (wiped); a refresh command re-enables it"
    if enrolment.building != request.building:
        return "building does not match the station's enrolment"
    if bytes(enrolment.public_key) != request.public_key:
        return "public key does not match the station's enrolment"
    return None
