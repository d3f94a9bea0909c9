"""The kiosk-services worker: an MQTT 5 shared-subscription responder (``dcs-server kiosk``).

Run one or more beside the ingest workers; the broker spreads the stations' ``service``
requests over the ``$share/kiosk`` group. Each request is checked like a lookup (correlation
data, the station's own reply topic, the station id in the payload) and answered on one
thread; a station that does not hear back in time tells the resident to try again.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Mapping
from typing import Any

import paho.mqtt.client as mqtt
import peewee
from paho.mqtt.subscribeoptions import SubscribeOptions

from contract import (
    Channel,
    ContractError,
    ServiceRequest,
    ServiceResponse,
    decode,
    encode,
    parse_station_topic,
    shared_filter,
    station_topic,
)
from contract.transport import (
    KEEPALIVE_S,
    KIOSK,
    QOS,
    SERVER_RECONNECT_MAX_S,
    SERVER_RECONNECT_MIN_S,
    BrokerSettings,
    connect_properties,
    new_client,
    publish_reply,
    server_client_id,
)
from sync_server.bills.notices import PaymentNotifier
from sync_server.config import broker_settings
from sync_server.db import database
from sync_server.kiosk_services.handlers import KioskServices

log = logging.getLogger(__name__)

_STOP = object()


class KioskServicesWorker:
    """Answers the stations' kiosk service requests."""

    def __init__(
        self,
        db: peewee.Database,
        broker: BrokerSettings,
        services: KioskServices,
        *,
        worker_id: str = "1",
        group: str = "kiosk",
        payment_poll_s: float = 1.0,
    ) -> None:
        self._thread: threading.Thread | None = None
        self._db = db
        self._broker = broker
        self._group = group
        self.services = services
        self._requests: queue.Queue = queue.Queue(maxsize=1000)
        self.connected = threading.Event()
        client = new_client(server_client_id(KIOSK, worker_id), broker)
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_message = self._on_message
        client.reconnect_delay_set(SERVER_RECONNECT_MIN_S, SERVER_RECONNECT_MAX_S)
        self._client = client
        #: Bills: confirmations, expiries and the payment notices to stations.
        self.payments: PaymentNotifier | None = None
        if services.bills.billing is not None:
            self.payments = PaymentNotifier(
                db, services.bills.billing, lambda: self._client, poll_s=payment_poll_s
            )

    @classmethod
    def from_config(cls, config: Mapping[str, Any], worker_id: str = "1") -> KioskServicesWorker:
        """A worker for a server config (its broker, secret, SMS driver and limits)."""
        services = KioskServices.from_config(config)
        poll_s = float(config.get("PAYMENT_POLL_S", 1.0))
        return cls(
            database.obj,
            broker_settings(dict(config)),
            services,
            worker_id=worker_id,
            payment_poll_s=poll_s,
        )

    def start(self) -> KioskServicesWorker:
        """Connect and answer in the background."""
        self._thread = threading.Thread(target=self._run, name="dcs-kiosk", daemon=True)
        self._thread.start()
        # A request is worth nothing once its kiosk has given up: no session to keep.
        self._client.connect_async(
            self._broker.host,
            self._broker.port,
            keepalive=KEEPALIVE_S,
            clean_start=True,
            properties=connect_properties(0),
        )
        self._client.loop_start()
        if self.payments is not None:
            self.payments.start()
        return self

    def stop(self) -> None:
        """Stop answering; safe twice."""
        if self.payments is not None:
            self.payments.stop()
        if self._thread is not None:
            self._requests.put(_STOP)
            self._thread.join()
            self._thread = None
        self._client.disconnect()
        self._client.loop_stop()

    def __enter__(self) -> KioskServicesWorker:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def _on_connect(self, client, userdata, flags, reason_code, properties) -> None:
        if reason_code.is_failure:
            log.error("broker refused the kiosk-services worker: %s", reason_code)
            return
        client.subscribe([(shared_filter(self._group, Channel.SERVICE), SubscribeOptions(qos=QOS))])
        self.connected.set()

    def _on_disconnect(self, client, userdata, flags, reason_code, properties) -> None:
        self.connected.clear()
        log.warning("kiosk-services worker disconnected: %s", reason_code)

    def _on_message(self, client, userdata, message: mqtt.MQTTMessage) -> None:
        try:
            self._requests.put_nowait(message)
        except queue.Full:
            log.warning("kiosk service queue full; request dropped (the kiosk times out)")

    def _run(self) -> None:
        with self._db.connection_context():
            while (message := self._requests.get()) is not _STOP:
                try:
                    self._answer(message)
                except Exception:
                    log.exception("kiosk service request failed")

    def _answer(self, message: mqtt.MQTTMessage) -> None:
        props = message.properties
        correlation = getattr(props, "CorrelationData", None)
        try:
            station_id, _ = parse_station_topic(message.topic)
        except ContractError:
            log.warning("kiosk service request on a foreign topic dropped")
            return
        reply_topic = station_topic(station_id, Channel.SERVICE_REPLY)
        if correlation is None or getattr(props, "ResponseTopic", None) != reply_topic:
            log.warning("kiosk service request without correlation or a foreign reply topic")
            return

        def reply(response: ServiceResponse) -> None:
            publish_reply(self._client, reply_topic, encode(response), correlation)

        try:
            request = decode(message.payload, ServiceRequest)
        except ContractError as exc:
            # The error names the field, never its value (it may be a phone or a password).
            reply(ServiceResponse(status="refused", reason=f"bad_request:{exc.field or ''}"[:64]))
            return
        if request.station_id != station_id:
            reply(ServiceResponse(status="refused", reason="station_mismatch"))
            return
        try:
            response = self.services.handle(station_id, request)
        except Exception:
            log.exception("kiosk service %s failed", request.action)
            response = ServiceResponse(status="error")
        reply(response)
