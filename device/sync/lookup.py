"""Live lookups over MQTT 5 request/response."""

from __future__ import annotations

import logging
import os
import threading

import paho.mqtt.client as mqtt

from contract import Channel, ContractError, LookupRequest, LookupResponse, decode, encode
from contract.transport import REQUEST_QOS, request_properties
from device.errors import LookupTimeoutError, ServerUnavailableError
from device.sync.link import Link

log = logging.getLogger(__name__)


class _Waiter:
    __slots__ = ("event", "response")

    def __init__(self) -> None:
        self.event = threading.Event()
        self.response: LookupResponse | None = None


class Lookups:
    """Asks the server and waits for the answer with the same correlation data."""

    def __init__(self, link: Link, *, timeout_s: float) -> None:
        self._link = link
        self._timeout_s = timeout_s
        self._waiting: dict[bytes, _Waiter] = {}
        #: Answers that came after their asker stopped waiting (or were never asked for).
        self.late_replies = 0
        self._lock = threading.Lock()
        # A link noticed dead ends every wait at once: nobody waits out the timeout for an
        # answer that cannot come.
        link.on_disconnected(self._give_up)
        link.route(Channel.LOOKUP_REPLY, self._on_reply)

    def insured_summary(self, citizen_id: str, timeout_s: float | None = None) -> LookupResponse:
        """The server's insured-person summary for ``citizen_id``.

        Raises :class:`ServerUnavailableError` at once when offline and
        :class:`LookupTimeoutError` when the server does not answer in time.
        """
        request = LookupRequest(
            station_id=self._link.station_id, query="insured_summary", citizen_id=citizen_id
        )
        return self._ask(request, self._timeout_s if timeout_s is None else timeout_s)

    def insured_record(self, citizen_id: str, timeout_s: float | None = None) -> LookupResponse:
        """The server's whole record (``full_record``: summary and the four detail screens).

        Raises like :meth:`insured_summary`.
        """
        request = LookupRequest(
            station_id=self._link.station_id, query="insured_record", citizen_id=citizen_id
        )
        return self._ask(request, self._timeout_s if timeout_s is None else timeout_s)

    def _ask(self, request: LookupRequest, timeout_s: float) -> LookupResponse:
        if not self._link.connected:
            raise ServerUnavailableError("the station is offline")
        correlation = os.urandom(16)
        waiter = _Waiter()
        with self._lock:
            self._waiting[correlation] = waiter
        try:
            self._link.publish(
                Channel.LOOKUP,
                encode(request),
                # Once or never (see REQUEST_QOS): never re-sent after a reconnect.
                qos=REQUEST_QOS,
                properties=request_properties(
                    self._link.topic(Channel.LOOKUP_REPLY), correlation, timeout_s
                ),
            )
            if not waiter.event.wait(timeout_s):
                raise LookupTimeoutError(f"no answer from the server within {timeout_s:g} s")
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
            self.late_replies += 1
            log.debug("late or unknown lookup reply dropped")
            return
        try:
            waiter.response = decode(message.payload, LookupResponse)
        except ContractError as exc:
            waiter.response = LookupResponse(status="error", reason=f"bad reply: {exc}")
        waiter.event.set()
