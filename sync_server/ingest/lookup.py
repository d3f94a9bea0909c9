"""Answers live lookups (MQTT 5 request/response) on their own thread.

Lookups never wait behind a bulk ingest batch: a resident is standing at the kiosk.
Each lookup is charged against the station's budgets first (``sync_server/budgets``); a
record of someone outside the station's building counts against a smaller budget too and is
audited as ``lookup.<query>.foreign``.
"""

from __future__ import annotations

import collections
import logging
import queue
import threading
import time
from dataclasses import dataclass
from datetime import date

import paho.mqtt.client as mqtt
import peewee

from contract import (
    Channel,
    ContractError,
    InsuredSummary,
    LookupRequest,
    LookupResponse,
    decode,
    encode,
    parse_station_topic,
    station_topic,
)
from contract.transport import publish_reply
from sync_server.audit import audit
from sync_server.budgets import OverBudgetError, StationBudgets, StationQuarantinedError
from sync_server.budgets.policy import LOOKUP, LOOKUP_FOREIGN
from sync_server.ingest.refusals import Recorder, digest, record_oversized
from sync_server.records.models import InsuredPerson
from sync_server.records.read import insured_record, residence_of, summary_of
from sync_server.replicas.enrolment import building_of_station

log = logging.getLogger(__name__)

_STOP = object()


@dataclass(frozen=True)
class _Oversized:
    topic: str
    size: int
    payload_sha256: str


def insured_summary(person: InsuredPerson) -> InsuredSummary:
    """The contract's summary of a master record."""
    return summary_of(person)


class LookupResponder:
    """Validates each request, answers from the master records, writes an audit event."""

    def __init__(
        self,
        db: peewee.Database,
        client: mqtt.Client,
        record: Recorder,
        budgets: StationBudgets | None = None,
        threads: int = 4,
    ) -> None:
        """``threads`` answer side by side: one lookup waits on the database most of its
        time (the budget's commit, the record, the audit's commit), and one thread made the
        next residents queue behind it when the server was busy (bench/city.py)."""
        self._db = db
        self._thread_count = threads
        self._budgets = budgets or StationBudgets()
        self._client = client
        self._record = record
        self._requests: queue.Queue = queue.Queue(maxsize=1000)
        self._threads: list[threading.Thread] = []
        #: Requests answered, and those dropped past their expiry (no one waited any more).
        self.answered = 0
        self.expired = 0
        #: Seconds from arrival to reply of the latest answers (for the operators' log).
        self.answer_s: collections.deque[float] = collections.deque(maxlen=10_000)
        #: Whole seconds of message expiry left on arrival -> requests: what the broker
        #: took of the kiosk's wait before the request got here.
        self.expiry_left: collections.Counter[int] = collections.Counter()

    def start(self) -> None:
        """Start answering."""
        self._threads = [
            threading.Thread(target=self._run, name=f"dcs-lookup-{n}", daemon=True)
            for n in range(self._thread_count)
        ]
        for thread in self._threads:
            thread.start()

    def stop(self) -> None:
        """Stop answering; safe twice."""
        for _ in self._threads:
            self._requests.put(_STOP)
        for thread in self._threads:
            thread.join()
        self._threads = []

    def submit(self, message: mqtt.MQTTMessage) -> None:
        """Queue a request (called on the network thread); drops it when overloaded."""
        try:
            self._requests.put_nowait((time.monotonic(), message))
        except queue.Full:
            log.warning("lookup queue full; request dropped (the station times out)")

    def refuse_oversized(self, topic: str, size: int, payload_sha256: str) -> None:
        """Record a request refused for its size on arrival (called on the network thread:
        the record is written by an answering thread)."""
        try:
            self._requests.put_nowait((time.monotonic(), _Oversized(topic, size, payload_sha256)))
        except queue.Full:
            log.warning("lookup queue full; an oversized request went unrecorded")

    def _run(self) -> None:
        with self._db.connection_context():
            while (item := self._requests.get()) is not _STOP:
                queued_at, message = item
                if isinstance(message, _Oversized):
                    self._record_oversized(message)
                    continue
                expiry = getattr(message.properties, "MessageExpiryInterval", None)
                if expiry is not None:
                    self.expiry_left[expiry] += 1
                if expiry is not None and time.monotonic() - queued_at > expiry:
                    # The kiosk stopped waiting: an answer would reach nobody, and the
                    # budget would still be charged for it.
                    self.expired += 1
                    continue
                try:
                    self._answer(message)
                    self.answered += 1
                    self.answer_s.append(time.monotonic() - queued_at)
                except Exception:
                    log.exception("lookup failed")

    def _record_oversized(self, item: _Oversized) -> None:
        record_oversized(self._record, item.topic, item.size, item.payload_sha256)

    def _refuse(self, message: mqtt.MQTTMessage, station_id: str | None, reason: str) -> None:
        payload = message.payload
        self._record(message.topic, station_id, None, reason, len(payload), digest(payload))

    def _answer(self, message: mqtt.MQTTMessage) -> None:
        props = message.properties
        correlation = getattr(props, "CorrelationData", None)
        response_topic = getattr(props, "ResponseTopic", None)
        try:
            station_id, _ = parse_station_topic(message.topic)
        except ContractError as exc:
            self._refuse(message, None, str(exc))
            return
        expected_reply = station_topic(station_id, Channel.LOOKUP_REPLY)
        if correlation is None or response_topic != expected_reply:
            reason = "lookup without correlation data or with a foreign response topic"
            self._refuse(message, station_id, reason)
            return

        def reply(response: LookupResponse) -> None:
            publish_reply(self._client, expected_reply, encode(response), correlation)

        try:
            request = decode(message.payload, LookupRequest)
        except ContractError as exc:
            self._refuse(message, station_id, str(exc))
            reply(LookupResponse(status="refused", reason=str(exc)))
            return
        if request.station_id != station_id:
            reason = "station id in the payload does not match the topic"
            self._refuse(message, station_id, reason)
            reply(LookupResponse(status="refused", reason=reason))
            return

        action = f"lookup.{request.query}"
        refusal, foreign = self._charge(station_id, request.citizen_id)
        if refusal is not None:
            with self._db.atomic():
                audit(f"station:{station_id}", action, request.citizen_id, refusal)
            reply(LookupResponse(status="refused", reason=refusal))
            return
        if request.query == "insured_record":
            full = insured_record(request.citizen_id)
            found, as_of = full is not None, full.as_of if full else None
        else:
            person = InsuredPerson.get_or_none(InsuredPerson.citizen_id == request.citizen_id)
            found, as_of = person is not None, person.as_of if person else None
        with self._db.atomic():
            audit(
                f"station:{station_id}",
                f"{action}.foreign" if foreign and found else action,
                request.citizen_id,
                "found" if found else "not_found",
            )
        if not found:
            reply(LookupResponse(status="not_found", as_of=date.today()))
        elif request.query == "insured_record":
            reply(LookupResponse(status="ok", as_of=as_of, record=full.summary, full_record=full))
        else:
            reply(LookupResponse(status="ok", as_of=as_of, record=insured_summary(person)))

    def _charge(self, station_id: str, citizen_id: str) -> tuple[str | None, bool]:
        """Charge one lookup to the station's budgets: why it is refused (or ``None``), and
        whether the resident lives outside the station's building."""
        exists, building = residence_of(citizen_id)
        # A station enrolled for no replica names no building: every resident is foreign to it.
        home = building_of_station(station_id)
        foreign = exists and (home is None or building != home)
        try:
            self._budgets.charge(station_id, [LOOKUP, LOOKUP_FOREIGN] if foreign else [LOOKUP])
        except StationQuarantinedError:
            return "station_quarantined", foreign
        except OverBudgetError as exc:
            return f"over_budget:{exc.kind}", foreign
        return None, foreign
