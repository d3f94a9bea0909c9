"""The kiosk's requests to the server's kiosk services (OTP, password reset, e-ID, tracking).

MQTT 5 request/response on the station's ``service`` topic, like the live lookups: a
``ResponseTopic`` under the station's own subtree and random ``CorrelationData``. Offline it
fails at once (:class:`ServerUnavailableError`), so a screen can say what it cannot do
instead of waiting; a server that does not answer in time is :class:`LookupTimeoutError`.
Nothing here logs a request's content: it carries phone numbers, codes and passwords.

A request is sent once or never (QoS 0, expiring with the kiosk's timeout) and carries when
it was sent: the server refuses one that arrives after the kiosk stopped waiting, so a code
asked for during a network drop is never texted minutes later (docs/kiosk.md).
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import paho.mqtt.client as mqtt

from contract import Channel, ContractError, ServiceRequest, ServiceResponse, decode, encode
from contract.transport import REQUEST_QOS, request_properties
from device.errors import LookupTimeoutError, ServerUnavailableError
from device.sync.link import Link

__all__ = ["LookupTimeoutError", "ServerUnavailableError", "ServiceClient"]

log = logging.getLogger(__name__)


class _Waiter:
    __slots__ = ("event", "response")

    def __init__(self) -> None:
        self.event = threading.Event()
        self.response: ServiceResponse | None = None


class ServiceClient:
    """Sends :class:`ServiceRequest` and waits for the answer with the same correlation."""

    def __init__(
        self,
        link: Link,
        *,
        timeout_s: float,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._link = link
        self._clock = clock
        self._timeout_s = timeout_s
        self._waiting: dict[bytes, _Waiter] = {}
        self._lock = threading.Lock()
        # A link noticed dead ends every wait at once: nobody waits out the timeout for an
        # answer that cannot come.
        link.on_disconnected(self._give_up)
        link.route(Channel.SERVICE_REPLY, self._on_reply)

    @property
    def online(self) -> bool:
        """Whether a request can be sent now."""
        return self._link.connected

    def ask(self, action: str, **fields: Any) -> ServiceResponse:
        """Ask the server to do ``action`` with ``fields`` (see ``contract.ServiceRequest``)."""
        request = ServiceRequest(
            station_id=self._link.station_id, action=action, sent_at=self._clock(), **fields
        )
        if not self._link.connected:
            raise ServerUnavailableError("the station is offline")
        correlation = os.urandom(16)
        waiter = _Waiter()
        with self._lock:
            self._waiting[correlation] = waiter
        try:
            self._link.publish(
                Channel.SERVICE,
                encode(request),
                qos=REQUEST_QOS,
                properties=request_properties(
                    self._link.topic(Channel.SERVICE_REPLY), correlation, self._timeout_s
                ),
            )
            if not waiter.event.wait(self._timeout_s):
                raise LookupTimeoutError(f"no answer within {self._timeout_s:g} s")
            if waiter.response is None:
                raise ServerUnavailableError("the link to the broker was lost")
            return waiter.response
        finally:
            with self._lock:
                self._waiting.pop(correlation, None)

    def _give_up(self) -> None:
        with self._lock:
            waiters = list(self._waiting.values())
        for waiter in waiters:
            waiter.event.set()  # without a response: the link is gone

    def _on_reply(self, message: mqtt.MQTTMessage) -> None:
        correlation = getattr(message.properties, "CorrelationData", None)
        with self._lock:
            waiter = self._waiting.get(correlation) if correlation else None
        if waiter is None:
            log.debug("late or unknown service reply dropped")
            return
        try:
            waiter.response = decode(message.payload, ServiceResponse)
        except ContractError as exc:
            log.warning("bad service reply: %s", exc)
            waiter.response = ServiceResponse(status="error", reason="bad_reply")
        waiter.event.set()
