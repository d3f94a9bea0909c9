"""The ingest's first stage: station messages decoded into what the apply stage stores.

Runs on the ingest worker's decode thread (sync_server/ingest/worker.py), so that decoding
the next batch overlaps the database's work on this one. The rare messages that write on
their own (refusals, command results, diagnostics) are written here; transactions, presence
and heartbeats are handed on in a :class:`Decoded` for the apply thread.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

import peewee

from contract import (
    AckItem,
    Channel,
    CommandResult,
    ContractError,
    DiagnosticsPart,
    Heartbeat,
    Presence,
    SchemaError,
    decode,
    parse_station_topic,
)
from contract.batch import Refused, decode_transactions
from sync_server.ingest.apply import Received
from sync_server.ingest.heartbeats import ReceivedBeat, ReceivedPresence
from sync_server.ingest.refusals import Recorder, digest, record_oversized

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Inbound:
    """A message as the network thread queued it."""

    topic: str
    payload: bytes
    received_at: datetime
    mid: int = 0
    qos: int = 0


@dataclass(frozen=True)
class Oversized:
    """A message refused on arrival for its size: only what the record of it needs."""

    topic: str
    size: int
    payload_sha256: str
    mid: int = 0
    qos: int = 0


@dataclass
class Decoded:
    """A batch of messages and what the apply thread stores of it."""

    batch: list[Inbound | Oversized]
    transactions: list[Received] = field(default_factory=list)
    beats: list[ReceivedBeat] = field(default_factory=list)
    presences: list[ReceivedPresence] = field(default_factory=list)


class Decoder:
    """Decodes batches of station messages; refusals go to ``record``.

    ``send_acks`` tells a station at once which of its transactions can never be applied;
    ``alarm`` raises the operators' alarm for a refused transaction.
    """

    def __init__(
        self,
        record: Recorder,
        send_acks: Callable[[str, list[AckItem]], None],
        alarm: Callable[[str, str], None],
    ) -> None:
        self._record = record
        self._send_acks = send_acks
        self._alarm = alarm

    def decode(self, batch: list[Inbound | Oversized]) -> Decoded:
        """What the apply thread stores of ``batch`` (nothing of it after a database error)."""
        decoded = Decoded(batch)
        try:
            for item in batch:
                self._decode_one(item, decoded)
        except peewee.DatabaseError:
            # A command result or diagnostics part could not be stored: none of the batch's
            # transactions is applied or acked to its station, which sends them again.
            log.exception("database error; %d messages left for redelivery", len(batch))
            return Decoded(batch)
        return decoded

    def reject(
        self,
        topic: str,
        station_id: str | None,
        tx_id: str | None,
        reason: str,
        payload: bytes,
    ) -> None:
        """Record a refused message by its size and hash (never its content)."""
        self._record(topic, station_id, tx_id, reason, len(payload), digest(payload))

    def _decode_one(self, item: Inbound | Oversized, decoded: Decoded) -> None:
        if isinstance(item, Oversized):
            record_oversized(self._record, item.topic, item.size, item.payload_sha256)
            return
        try:
            station_id, channel = parse_station_topic(item.topic)
        except ContractError as exc:
            self.reject(item.topic, None, None, str(exc), item.payload)
            return
        if channel is Channel.TX:
            decoded.transactions += self._transactions(item, station_id)
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

    def _transactions(self, item: Inbound, station_id: str) -> list[Received]:
        """The transactions of one ``tx`` message (a single one or a batch), each judged on
        its own: one bad transaction in a batch never holds back the others."""
        try:
            decoded = decode_transactions(item.payload)
        except ContractError as exc:
            self.reject(item.topic, station_id, None, str(exc), item.payload)
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
            self.reject(item.topic, station_id, tx.tx_id, reason, item.payload)
            self._alarm(station_id, reason)
            if tx.tx_id is not None:
                # The broker authenticated the topic's station as the sender: tell it, so a
                # misconfigured station sets the transaction aside instead of retrying forever.
                refusals.append(AckItem(tx_id=tx.tx_id, outcome="rejected", reason=reason))
        if refusals:
            self._send_acks(station_id, refusals)
        return received

    def _heartbeat(self, item: Inbound, station_id: str) -> ReceivedBeat | None:
        try:
            beat = decode(item.payload, Heartbeat)
        except ContractError as exc:
            self.reject(item.topic, station_id, None, str(exc), item.payload)
            return None
        if beat.station_id != station_id:
            self.reject(item.topic, station_id, None, "station id mismatch", item.payload)
            return None
        return ReceivedBeat(station_id, beat, item.received_at)

    def _presence(self, item: Inbound, station_id: str) -> ReceivedPresence | None:
        if not item.payload:
            return None  # a cleared retained message
        try:
            presence = decode(item.payload, Presence)
        except ContractError as exc:
            self.reject(item.topic, station_id, None, str(exc), item.payload)
            return None
        if presence.station_id != station_id:
            self.reject(item.topic, station_id, None, "station id mismatch", item.payload)
            return None
        return ReceivedPresence(
            station_id, presence.state, presence.software_version, item.received_at
        )

    def _command_result(self, item: Inbound, station_id: str) -> None:
        try:
            result = decode(item.payload, CommandResult)
        except ContractError as exc:
            self.reject(item.topic, station_id, None, str(exc), item.payload)
            return
        if result.station_id != station_id:
            self.reject(item.topic, station_id, None, "station id mismatch", item.payload)
            return
        from sync_server.dashboard.commands import settle

        if not settle(result, item.received_at):
            log.warning("a result for a command this server did not send, from %s", station_id)
        log.info("command %s on %s: %s", result.command_id, station_id, result.status)

    def _diagnostics(self, item: Inbound, station_id: str) -> None:
        """A part of a diagnostics bundle: kept only if a command of ours asked for it."""
        from sync_server.diagnostics.receive import DiagnosticsRefused, accept_part

        try:
            part = decode(item.payload, DiagnosticsPart)
            outcome = accept_part(part, station_id, item.received_at)
        except (ContractError, DiagnosticsRefused) as exc:
            self.reject(item.topic, station_id, None, str(exc), item.payload)
            return
        if outcome == "complete":
            log.info("diagnostics bundle of %s received (command %s)", station_id, part.command_id)


def size_of(item: object) -> int:
    """The bytes an inbox item adds to a batch."""
    return len(item.payload) if isinstance(item, Inbound) else 0
