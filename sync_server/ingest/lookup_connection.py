"""Live lookups on an MQTT connection of their own (``dcs-lookup-<n>``).

On the ingest's connection a lookup waited at the broker behind the backlog queued for that
connection (bench/city.py). This connection subscribes to ``$share/lookup`` only, with a
clean session: a lookup is answered now or never (``REQUEST_QOS``), so nothing waits at the
broker for it while it is away. An ingest worker runs one (``dcs-server ingest``), or it runs
in a process of its own (``dcs-server lookup``), where no apply thread competes with the
answering threads for the interpreter.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

import paho.mqtt.client as mqtt
import peewee
from paho.mqtt.subscribeoptions import SubscribeOptions

from contract import MAX_PAYLOAD_BYTES, Channel, shared_filter
from contract.transport import (
    KEEPALIVE_S,
    LOOKUP,
    QOS,
    SERVER_RECONNECT_MAX_S,
    SERVER_RECONNECT_MIN_S,
    BrokerSettings,
    new_client,
    server_client_id,
)
from sync_server.budgets import StationBudgets
from sync_server.ingest.lookup import LookupResponder
from sync_server.ingest.refusals import Recorder, digest

log = logging.getLogger(__name__)

#: ``(topic, size, payload's SHA-256)`` of a lookup over the payload limit, refused on
#: arrival (on paho's network thread: whoever records it must not write there).
OversizedHandler = Callable[[str, int, str], None]


class LookupConnection:
    """A connection answering live lookups; :attr:`up` is set while it is subscribed.

    Raises ``FileNotFoundError`` when the deployment has no certificate for it yet
    (``dcs-provision broker config`` issues it).
    """

    def __init__(
        self,
        db: peewee.Database,
        broker: BrokerSettings,
        *,
        worker_id: str,
        record: Recorder,
        on_oversized: OversizedHandler | None = None,
        budgets: StationBudgets | None = None,
        on_change: Callable[[], None] | None = None,
    ) -> None:
        """``on_oversized`` defaults to recording on the answering threads; ``on_change`` is
        called when :attr:`up` changes."""
        self._broker = broker
        self._client = new_client(server_client_id(LOOKUP, worker_id), broker)
        self._client.on_connect = self._on_connect
        self._client.on_subscribe = self._on_subscribed
        self._client.on_disconnect = self._on_disconnect
        self._client.on_message = self._on_message
        self._client.reconnect_delay_set(SERVER_RECONNECT_MIN_S, SERVER_RECONNECT_MAX_S)
        self.responder = LookupResponder(db, self._client, record=record, budgets=budgets)
        self._on_oversized = on_oversized or self.responder.refuse_oversized
        self._on_change = on_change or (lambda: None)
        self.up = threading.Event()

    def start(self) -> LookupConnection:
        """Connect and answer in the background."""
        self.responder.start()
        self._client.connect_async(
            self._broker.host, self._broker.port, keepalive=KEEPALIVE_S, clean_start=True
        )
        self._client.loop_start()
        return self

    def stop(self) -> None:
        """Disconnect and stop answering; what was queued is dropped (the kiosks time out)."""
        self._client.disconnect()
        self._client.loop_stop()
        self.responder.stop()

    def __enter__(self) -> LookupConnection:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def _on_connect(self, client, userdata, flags, reason_code, properties) -> None:
        if reason_code.is_failure:
            log.error("broker refused the lookup connection: %s", reason_code)
            return
        client.subscribe(shared_filter(LOOKUP, Channel.LOOKUP), options=SubscribeOptions(qos=QOS))

    def _on_subscribed(self, client, userdata, mid, reason_codes, properties) -> None:
        if any(code.is_failure for code in reason_codes):
            log.error("the broker refused the lookup subscription: %s", reason_codes)
            return
        self.up.set()
        self._on_change()
        log.info("lookup connection up")

    def _on_disconnect(self, client, userdata, flags, reason_code, properties) -> None:
        self.up.clear()
        self._on_change()
        log.warning("lookup connection lost: %s", reason_code)

    def _on_message(self, client, userdata, message: mqtt.MQTTMessage) -> None:
        payload = message.payload
        if len(payload) > MAX_PAYLOAD_BYTES:
            # Refused before it is queued or decoded: the lookup queue would otherwise hold
            # up to the broker's packet limit per request.
            self._on_oversized(message.topic, len(payload), digest(payload))
            return
        self.responder.submit(message)
