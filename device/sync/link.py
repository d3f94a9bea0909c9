"""The station's one MQTT connection: reconnects with jittered backoff, presence, dispatch."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import datetime

import paho.mqtt.client as mqtt
from paho.mqtt.properties import Properties
from paho.mqtt.subscribeoptions import SubscribeOptions

from contract import Channel, Presence, encode, station_topic
from contract.failpoints import hit
from contract.transport import (
    KEEPALIVE_S,
    QOS,
    SESSION_EXPIRY_S,
    BrokerSettings,
    connect_properties,
    new_client,
)
from device.sync.backoff import Backoff

log = logging.getLogger(__name__)

Handler = Callable[[mqtt.MQTTMessage], None]

#: What a station subscribes to; all under its own subtree, as the broker ACL requires.
SUBSCRIBED = (
    Channel.ACK,
    Channel.LOOKUP_REPLY,
    Channel.COMMAND,
    Channel.REPLICA,
    Channel.SERVICE_REPLY,
    Channel.PAYMENT,
    Channel.JOB,
    Channel.FILE_BLOCK,
)


class Link:
    """Owns the paho client and its network thread.

    paho's thread does the I/O; after each lost connection the next attempt waits a delay
    from :class:`Backoff` (exponential, with jitter), set through paho's public
    ``reconnect_delay_set``. Messages are routed to handlers by channel.
    """

    def __init__(
        self,
        station_id: str,
        settings: BrokerSettings,
        *,
        software_version: str,
        clock: Callable[[], datetime],
        backoff: Backoff,
        session_expiry_s: int = SESSION_EXPIRY_S,
        keepalive_s: int = KEEPALIVE_S,
    ) -> None:
        self._client: mqtt.Client | None = None
        self.station_id = station_id
        self._settings = settings
        self._software_version = software_version
        self._clock = clock
        self._backoff = backoff
        self._session_expiry_s = session_expiry_s
        self._keepalive_s = keepalive_s
        self._handlers: dict[Channel, Handler] = {}
        #: Subscriptions outside the station's subtree (the public notices), by filter.
        self._extra: list[tuple[str, Handler]] = []
        self._topics: dict[Channel, str] = {}
        self._connect_listeners: list[Callable[[], None]] = []
        self._disconnect_listeners: list[Callable[[], None]] = []
        self._connected = threading.Event()
        self._started = False
        # Transaction publishes awaiting the broker's PUBACK (for the after_puback failpoint;
        # bounded by paho's 16-bit message ids).
        self._tx_mids: set[int] = set()

        client = new_client(station_id, settings)
        client.will_set(
            station_topic(station_id, Channel.PRESENCE),
            self._presence("offline"),
            qos=QOS,
            retain=True,
        )
        client.on_connect = self._on_connect
        client.on_connect_fail = self._on_connect_fail
        client.on_disconnect = self._on_disconnect
        client.on_message = self._on_message
        client.on_publish = self._on_publish
        self._client = client
        self._schedule_retry()

    # -- wiring ------------------------------------------------------------------------

    def route(self, channel: Channel, handler: Handler) -> None:
        """Call ``handler`` (on the network thread) for each message on ``channel``."""
        self._handlers[channel] = handler

    def route_filters(self, filters: list[str], handler: Handler) -> None:
        """Subscribe to ``filters`` outside the station's own topics (read-only, such as
        ``dcs/v1/notices/...``) and call ``handler`` for their messages; set before
        :meth:`start` (they are subscribed at every connect)."""
        self._extra.extend((topic_filter, handler) for topic_filter in filters)

    def on_connected(self, listener: Callable[[], None]) -> None:
        """Call ``listener`` after every successful (re)connect."""
        self._connect_listeners.append(listener)

    def on_disconnected(self, listener: Callable[[], None]) -> None:
        """Call ``listener`` (on the network thread) whenever an established link is lost:
        a clean stop, the broker closing it, or a keepalive ping left unanswered."""
        self._disconnect_listeners.append(listener)

    @property
    def keepalive_s(self) -> int:
        """The MQTT keepalive: a dead link is noticed within one to two of these."""
        return self._keepalive_s

    @property
    def connected(self) -> bool:
        """True while the broker has accepted our session."""
        return self._connected.is_set()

    def wait_connected(self, timeout: float) -> bool:
        """Block until connected or ``timeout``; returns whether connected."""
        return self._connected.wait(timeout)

    def topic(self, channel: Channel) -> str:
        """One of this station's topics."""
        # Cached: it is asked for on every publish, and building it re-validates the id.
        topic = self._topics.get(channel)
        if topic is None:
            topic = self._topics[channel] = station_topic(self.station_id, channel)
        return topic

    def publish(
        self,
        channel: Channel,
        payload: bytes,
        *,
        qos: int = QOS,
        retain: bool = False,
        properties: Properties | None = None,
    ) -> mqtt.MQTTMessageInfo:
        """Queue a publish on paho's thread (non-blocking)."""
        info = self._client.publish(
            self.topic(channel), payload, qos=qos, retain=retain, properties=properties
        )
        if channel is Channel.TX and qos > 0:
            self._tx_mids.add(info.mid)
        return info

    # -- lifecycle -----------------------------------------------------------------------

    def start(self) -> None:
        """Start connecting in the background; returns at once."""
        self._client.connect_async(
            self._settings.host,
            self._settings.port,
            keepalive=self._keepalive_s,
            clean_start=False,
            properties=connect_properties(self._session_expiry_s),
        )
        self._client.loop_start()
        self._started = True

    def stop(self, timeout: float = 5.0) -> None:
        """Say offline (retained), disconnect cleanly and stop the thread; safe twice."""
        if not self._started:
            return
        self._started = False
        if self.connected:
            info = self._client.publish(
                self.topic(Channel.PRESENCE), self._presence("offline"), qos=QOS, retain=True
            )
            try:
                info.wait_for_publish(timeout)
            except (RuntimeError, ValueError):
                log.warning("offline presence not confirmed before shutdown")
        self._client.disconnect()
        self._client.loop_stop()
        self._lost()

    # -- paho callbacks (network thread) ---------------------------------------------------

    def _presence(self, state: str) -> bytes:
        return encode(
            Presence(
                station_id=self.station_id,
                state=state,
                station_time=self._clock(),
                software_version=self._software_version,
            )
        )

    def _schedule_retry(self) -> None:
        delay = self._backoff.next()
        if self._client is not None:
            self._client.reconnect_delay_set(min_delay=delay, max_delay=delay)

    def _on_connect(self, client, userdata, flags, reason_code, properties) -> None:
        if reason_code.is_failure:
            log.warning("broker refused the connection: %s", reason_code)
            self._schedule_retry()
            return
        self._backoff.reset()
        self._schedule_retry()
        client.subscribe(
            [(self.topic(channel), SubscribeOptions(qos=QOS)) for channel in SUBSCRIBED]
            + [(topic_filter, SubscribeOptions(qos=QOS)) for topic_filter, _ in self._extra]
        )
        client.publish(self.topic(Channel.PRESENCE), self._presence("online"), qos=QOS, retain=True)
        self._connected.set()
        log.info("connected to broker (session present: %s)", flags.session_present)
        for listener in self._connect_listeners:
            listener()

    def _on_connect_fail(self, client, userdata) -> None:
        log.info("broker unreachable; retrying with backoff")
        self._schedule_retry()

    def _on_disconnect(self, client, userdata, flags, reason_code, properties) -> None:
        if self._connected.is_set():
            log.warning("disconnected from broker: %s", reason_code)
        self._lost()
        self._schedule_retry()

    def _lost(self) -> None:
        """The link is down: tell the listeners once per lost connection."""
        if not self._connected.is_set():
            return
        self._connected.clear()
        for listener in self._disconnect_listeners:
            try:
                listener()
            except Exception:
                log.exception("a disconnect listener failed")

    def _on_publish(self, client, userdata, mid, reason_code, properties) -> None:
        # Only a transaction's PUBACK: the broker has it, the server's ack is still to come.
        if mid in self._tx_mids:
            self._tx_mids.discard(mid)
            hit("station.after_puback")

    def _on_message(self, client, userdata, message: mqtt.MQTTMessage) -> None:
        for topic_filter, extra in self._extra:
            if mqtt.topic_matches_sub(topic_filter, message.topic):
                try:
                    extra(message)
                except Exception:
                    log.exception("handler for %s failed", topic_filter)
                return
        prefix = self.topic(Channel.TX).removesuffix(Channel.TX.value)
        suffix = message.topic.removeprefix(prefix)
        try:
            handler = self._handlers[Channel(suffix)]
        except (ValueError, KeyError):
            log.warning("message on an unexpected topic ignored")
            return
        try:
            handler(message)
        except Exception:
            # A bad message must never kill the network thread.
            log.exception("handler for %s failed", suffix)
