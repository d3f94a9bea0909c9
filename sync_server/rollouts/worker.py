"""``dcs-server rollouts run``: sends jobs, serves file blocks, records progress.

One process (``dcs-rollouts-1``) with a persistent session, so reports and requests sent
while it is down are delivered when it returns. Messages are handled one at a time on one
thread with one database connection; between them, every ``tick_s``, :func:`service.tick`
judges the waves and sends what is due. A station's retained presence turning ``online``
sends it its open jobs again (``service.station_online``).
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path

import paho.mqtt.client as mqtt
import peewee
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from paho.mqtt.subscribeoptions import SubscribeOptions

from contract import (
    Channel,
    ContractError,
    Presence,
    decode,
    encode,
    fleet_filter,
    parse_station_topic,
    station_topic,
)
from contract.rollout import FileRequest, JobProgress
from contract.transport import (
    KEEPALIVE_S,
    QOS,
    ROLLOUTS,
    SERVER_RECONNECT_MAX_S,
    SERVER_RECONNECT_MIN_S,
    SESSION_EXPIRY_S,
    BrokerSettings,
    connect_properties,
    new_client,
    server_client_id,
)
from sync_server.budgets import StationBudgets
from sync_server.db import utc_now
from sync_server.rollouts import service
from sync_server.rollouts.delivery import FileServer
from sync_server.rollouts.jobs import Dispatcher
from sync_server.rollouts.store import FileStore

log = logging.getLogger(__name__)

_STOP = object()


class RolloutWorker:
    """The rollout process: see the module docstring."""

    def __init__(
        self,
        db: peewee.Database,
        broker: BrokerSettings,
        signing_key: Ed25519PrivateKey,
        store_root: Path,
        *,
        tick_s: float = 5.0,
        resend_after: timedelta = timedelta(minutes=10),
        bytes_factor: float = 3.0,
        clock: Callable[[], datetime] = utc_now,
        worker_id: str = "1",
    ) -> None:
        self._thread: threading.Thread | None = None
        self._db = db
        self._broker = broker
        self._tick_s = tick_s
        self._clock = clock
        self._resend_after = resend_after
        self._inbox: queue.Queue = queue.Queue(maxsize=10_000)
        self.connected = threading.Event()
        client = new_client(server_client_id(ROLLOUTS, worker_id), broker)
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_message = self._on_message
        client.reconnect_delay_set(SERVER_RECONNECT_MIN_S, SERVER_RECONNECT_MAX_S)
        # A file request is answered with up to 64 QoS 1 blocks: let more be in flight.
        client.max_inflight_messages_set(100)
        self._client = client
        self.dispatcher = Dispatcher(signing_key, self._publish)
        self.files = FileServer(FileStore(store_root), StationBudgets(), bytes_factor)

    def _publish(self, topic: str, payload: bytes) -> None:
        self._client.publish(topic, payload, qos=QOS)

    def start(self) -> RolloutWorker:
        """Connect and work in the background."""
        self._thread = threading.Thread(target=self._run, name="dcs-rollouts", daemon=True)
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
        """Stop; safe twice."""
        if self._thread is not None:
            self._inbox.put(_STOP)
            self._thread.join()
            self._thread = None
        self._client.disconnect()
        self._client.loop_stop()

    def __enter__(self) -> RolloutWorker:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def _on_connect(self, client, userdata, flags, reason_code, properties) -> None:
        if reason_code.is_failure:
            log.error("broker refused the rollout worker: %s", reason_code)
            return
        client.subscribe(
            [
                (fleet_filter(channel), SubscribeOptions(qos=QOS))
                for channel in (Channel.JOB_PROGRESS, Channel.FILE_REQUEST, Channel.PRESENCE)
            ]
        )
        self.connected.set()

    def _on_disconnect(self, client, userdata, flags, reason_code, properties) -> None:
        self.connected.clear()
        log.warning("rollout worker disconnected: %s", reason_code)

    def _on_message(self, client, userdata, message: mqtt.MQTTMessage) -> None:
        try:
            self._inbox.put_nowait(message)
        except queue.Full:
            log.warning("rollout worker inbox full; message dropped (the station retries)")

    def _run(self) -> None:
        next_tick = time.monotonic()
        with self._db.connection_context():
            while True:
                try:
                    message = self._inbox.get(timeout=max(0.0, next_tick - time.monotonic()))
                except queue.Empty:
                    message = None
                if message is _STOP:
                    return
                try:
                    if message is not None:
                        self.handle(message.topic, message.payload)
                    if time.monotonic() >= next_tick:
                        next_tick = time.monotonic() + self._tick_s
                        self.tick()
                except Exception:
                    log.exception("rollout worker step failed")

    def tick(self) -> None:
        """One round of :func:`service.tick` and the resend of unanswered jobs."""
        now = self._clock()
        service.tick(self.dispatcher, now)
        service.resend_unanswered(self.dispatcher, now, self._resend_after)

    def handle(self, topic: str, payload: bytes) -> None:
        """One message from a station."""
        try:
            station_id, channel = parse_station_topic(topic)
        except ContractError:
            return
        now = self._clock()
        try:
            if channel is Channel.JOB_PROGRESS:
                progress = decode(payload, JobProgress)
                if not service.record_progress(station_id, progress, now):
                    log.warning("progress from %s for a job not its own", station_id)
            elif channel is Channel.FILE_REQUEST:
                request = decode(payload, FileRequest)
                reply_topic = station_topic(station_id, Channel.FILE_BLOCK)
                for answer in self.files.answer(station_id, request, now):
                    self._publish(reply_topic, encode(answer))
            elif channel is Channel.PRESENCE:
                if not payload:
                    return
                presence = decode(payload, Presence)
                if presence.state == "online" and presence.station_id == station_id:
                    service.station_online(self.dispatcher, station_id, now)
        except ContractError as exc:
            log.warning("bad %s message from %s: %s", channel.value, station_id, exc)
