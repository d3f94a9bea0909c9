"""Thousands of simulated stations in one process, for ``bench/city.py``.

Each station is an asyncio MQTT 5 client (aiomqtt) with its **own TLS client certificate**
(the broker takes the identity and client id from it), a persistent session and a retained
presence, behaving on the wire as ``device/sync`` does: after a lost link it reconnects with
:class:`device.sync.backoff.Backoff` (the first attempt spread over
``SyncConfig.reconnect_spread_s``), sends its whole backlog in batches
(:mod:`contract.batch`) after every (re)connect, publishes again what is not acked in
time, and forgets a transaction only on the server's ack. Real stations need a process
each; these share one event loop so that 5,000 fit on the machine beside the server.

Driven by the parent on stdin, one word a line; it answers on stdout:

* ``CONNECT`` - every station connects (not timed); prints ``CONNECTED``.
* ``BACKLOG`` - every station queues its backlog (during the broker's outage); ``QUEUED``.
* (the parent restarts the broker: the stations return on their own, send, and get acks;
  the process prints ``DONE`` once every backlog is acked.)
* ``RAW`` - the baseline instead: every station connects (spread as after an outage),
  publishes the same messages once, and does not wait for acks; prints ``DONE``.
* ``REPORT`` - prints the figures as JSON; ``STOP`` - disconnects and exits.

    python -m bench.city_fleet SPEC.json
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import ssl
import sys
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import aiomqtt
from paho.mqtt.subscribeoptions import SubscribeOptions

from bench.common import petition_body
from contract import (
    Ack,
    Channel,
    LookupRequest,
    LookupResponse,
    Presence,
    Transaction,
    decode,
    encode,
    station_topic,
)
from contract.batch import encode_batch, fits
from contract.transport import QOS, REQUEST_QOS, connect_properties, request_properties
from device.config import SyncConfig
from device.store.ids import new_tx_id
from device.sync.backoff import Backoff

_DEFAULTS = SyncConfig()
#: A live lookup waits this long for its answer, as the kiosk does.
LOOKUP_TIMEOUT_S = _DEFAULTS.lookup_timeout_s
#: Each station asks at most this many (the server's foreign-lookup budget is 3 an hour).
LOOKUPS_PER_STATION = 2


@dataclass
class Figures:
    """What one process measured, sent to the parent as JSON."""

    online_at: list[float] = field(default_factory=list)  # last connect, per station
    done_at: list[float] = field(default_factory=list)  # all acked, per station
    connections: int = 0
    connect_failures: int = 0
    messages: int = 0
    republished: int = 0
    outcomes: dict[str, int] = field(default_factory=dict)
    lookup_latency_s: list[float] = field(default_factory=list)
    lookup_status: dict[str, int] = field(default_factory=dict)


class Fleet:
    """The stations of this process and what they share (phase, figures, settings)."""

    def __init__(self, spec: dict[str, Any]) -> None:
        self.spec = spec
        self.host, self.port = spec["host"], spec["port"]
        self.backlog = spec["backlog"]
        self.spread_s = spec.get("reconnect_spread_s", _DEFAULTS.reconnect_spread_s)
        self.raw = False
        self.stopping = False
        self.figures = Figures()
        self.all_done = asyncio.Event()
        self.stations = [Station(self, sid) for sid in spec["stations"]]
        self.remaining = len(self.stations)

    def tls(self, station_id: str) -> ssl.SSLContext:
        """The station's own TLS context: the fleet CA, its certificate and key."""
        context = ssl.create_default_context(cafile=self.spec["ca_file"])
        certs = self.spec["cert_dir"]
        context.load_cert_chain(f"{certs}/{station_id}.crt.pem", f"{certs}/{station_id}.key.pem")
        return context

    def station_done(self, station: Station) -> None:
        """One more station has nothing left to send."""
        self.figures.done_at.append(time.monotonic())
        self.remaining -= 1
        if self.remaining == 0:
            self.all_done.set()


class Station:
    """One simulated station: its link, its backlog, its acks."""

    def __init__(self, fleet: Fleet, station_id: str) -> None:
        self.fleet = fleet
        self.station_id = station_id
        self.tls = fleet.tls(station_id)
        self.pending: dict[str, bytes] = {}  # tx_id -> encoded transaction
        self.client: aiomqtt.Client | None = None
        self.connected = asyncio.Event()
        self.has_backlog = asyncio.Event()
        self.lookups = 0
        self.replies: dict[bytes, asyncio.Future[LookupResponse]] = {}
        self.backoff = Backoff(
            _DEFAULTS.reconnect_initial_s, _DEFAULTS.reconnect_max_s, spread=fleet.spread_s
        )
        self.task: asyncio.Task | None = None

    def topic(self, channel: Channel) -> str:
        """This station's topic for ``channel``."""
        return station_topic(self.station_id, channel)

    def queue_backlog(self, rng: random.Random) -> None:
        """``backlog`` realistic petitions, as the outbox would hold them after an outage."""
        for serial in range(1, self.fleet.backlog + 1):
            tx = Transaction(
                tx_id=new_tx_id(),
                station_id=self.station_id,
                seq=serial,
                kind="petition.filed",
                station_time=datetime.now(UTC),
                body=petition_body(self.station_id, serial, rng),
            )
            self.pending[tx.tx_id] = encode(tx)
        self.has_backlog.set()

    def _presence(self, state: str) -> bytes:
        return encode(
            Presence(
                station_id=self.station_id,
                state=state,
                station_time=datetime.now(UTC),
                software_version="bench",
            )
        )

    def _client(self) -> aiomqtt.Client:
        return aiomqtt.Client(
            self.fleet.host,
            self.fleet.port,
            identifier=self.station_id,
            protocol=aiomqtt.ProtocolVersion.V5,
            clean_start=False,
            properties=connect_properties(),
            tls_context=self.tls,
            keepalive=30,
            timeout=30,
            will=aiomqtt.Will(self.topic(Channel.PRESENCE), self._presence("offline"), QOS, True),
        )

    async def run(self) -> None:
        """Stay connected until stopped; after a lost link, back off and come back."""
        while not self.fleet.stopping:
            try:
                async with self._client() as client:
                    await self._session(client)
            except aiomqtt.MqttError:
                self.fleet.figures.connect_failures += 1
            finally:
                self.client = None
                self.connected.clear()
            if self.fleet.stopping:
                return
            await asyncio.sleep(self.backoff.next())

    async def _session(self, client: aiomqtt.Client) -> None:
        self.backoff.reset()  # the next loss starts with the spread (attempt 0), as Link does
        figures = self.fleet.figures
        figures.connections += 1
        for channel in (Channel.ACK, Channel.LOOKUP_REPLY):
            await client.subscribe(self.topic(channel), options=SubscribeOptions(qos=QOS))
        await client.publish(self.topic(Channel.PRESENCE), self._presence("online"), QOS, True)
        self.client = client
        self.connected.set()
        self.online_at = time.monotonic()
        sender = asyncio.create_task(self._send(client))
        try:
            async for message in client.messages:
                self._on_message(message)
        finally:
            sender.cancel()

    async def _send(self, client: aiomqtt.Client) -> None:
        """Publish the backlog; again (what is left) after each ack timeout."""
        await self.has_backlog.wait()
        retry = Backoff(_DEFAULTS.ack_timeout_s, _DEFAULTS.ack_timeout_max_s, jitter=0.3)
        attempts = 0
        while self.pending:
            if attempts:
                self.fleet.figures.republished += len(self.pending)
            await self._publish(client, list(self.pending.values()))
            if self.fleet.raw:
                self.pending.clear()
                self.fleet.station_done(self)
                return
            await asyncio.sleep(retry.delay(attempts))
            attempts += 1

    async def _publish(self, client: aiomqtt.Client, encoded: list[bytes]) -> None:
        group: list[bytes] = []
        size = 0
        for data in encoded:
            if group and not fits(size, len(group), len(data)):
                await self._send_group(client, group)
                group, size = [], 0
            group.append(data)
            size += len(data)
        if group:
            await self._send_group(client, group)

    async def _send_group(self, client: aiomqtt.Client, group: list[bytes]) -> None:
        self.fleet.figures.messages += 1
        await client.publish(self.topic(Channel.TX), encode_batch(self.station_id, group), QOS)

    def _on_message(self, message: aiomqtt.Message) -> None:
        if message.topic.value == self.topic(Channel.LOOKUP_REPLY):
            correlation = getattr(message.properties, "CorrelationData", None)
            future = self.replies.pop(correlation, None) if correlation else None
            if future is not None and not future.done():
                future.set_result(decode(message.payload, LookupResponse))
            return
        ack = decode(message.payload, Ack)
        outcomes = self.fleet.figures.outcomes
        had = bool(self.pending)
        for item in ack.results:
            if self.pending.pop(item.tx_id, None) is not None:
                outcomes[item.outcome] = outcomes.get(item.outcome, 0) + 1
            else:
                outcomes["ack_again"] = outcomes.get("ack_again", 0) + 1
        if had and not self.pending:
            self.fleet.station_done(self)

    async def lookup(self, citizen_id: str) -> None:
        """One live lookup, timed from publish to answer."""
        client = self.client
        if client is None:
            return
        self.lookups += 1
        correlation = os.urandom(16)
        future: asyncio.Future[LookupResponse] = asyncio.get_running_loop().create_future()
        self.replies[correlation] = future
        request = LookupRequest(
            station_id=self.station_id, query="insured_summary", citizen_id=citizen_id
        )
        figures = self.fleet.figures
        started = time.monotonic()
        try:
            await client.publish(
                self.topic(Channel.LOOKUP),
                encode(request),
                REQUEST_QOS,
                properties=request_properties(
                    self.topic(Channel.LOOKUP_REPLY), correlation, LOOKUP_TIMEOUT_S
                ),
            )
            response = await asyncio.wait_for(future, LOOKUP_TIMEOUT_S)
            status = response.status
        except (TimeoutError, aiomqtt.MqttError):
            status = "timeout"
        finally:
            self.replies.pop(correlation, None)
        figures.lookup_status[status] = figures.lookup_status.get(status, 0) + 1
        # A timeout counts at its full wait: the resident waited that long for "cannot reach".
        figures.lookup_latency_s.append(time.monotonic() - started)


async def ask_lookups(fleet: Fleet, per_second: float, rng: random.Random) -> None:
    """Live lookups at ``per_second`` from connected stations, until the backlogs are in."""
    citizens = fleet.spec["citizen_ids"]
    pending: set[asyncio.Task] = set()
    while not fleet.all_done.is_set() and not fleet.stopping:
        await asyncio.sleep(rng.expovariate(per_second))
        ready = [
            s
            for s in rng.sample(fleet.stations, min(50, len(fleet.stations)))
            if s.client is not None and s.lookups < LOOKUPS_PER_STATION
        ]
        if ready:
            task = asyncio.create_task(ready[0].lookup(rng.choice(citizens)))
            pending.add(task)
            task.add_done_callback(pending.discard)
    await asyncio.gather(*pending, return_exceptions=True)


async def connect_all(fleet: Fleet) -> None:
    """Start every station's link and wait until all are connected (a setup step)."""
    for station in fleet.stations:
        station.task = asyncio.create_task(station.run())
        await asyncio.sleep(0.002)  # setting up: no need to storm the broker here
    for station in fleet.stations:
        await station.connected.wait()


def say(text: str) -> None:
    """One line to the parent."""
    print(text, flush=True)


async def main(spec_path: str) -> None:
    """Follow the parent's words (see the module's docstring)."""
    with open(spec_path) as handle:
        spec = json.load(handle)
    fleet = Fleet(spec)
    rng = random.Random(spec.get("seed", 0))
    say("READY")
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    lookups: asyncio.Task | None = None
    watcher: asyncio.Task | None = None
    while line := (await reader.readline()).decode().strip():
        if line == "CONNECT":
            await connect_all(fleet)
            say("CONNECTED")
        elif line == "BACKLOG":
            for station in fleet.stations:
                station.queue_backlog(rng)
            if spec.get("lookups_per_s"):
                lookups = asyncio.create_task(ask_lookups(fleet, spec["lookups_per_s"], rng))
            watcher = asyncio.create_task(_say_when_done(fleet))
            say("QUEUED")
        elif line == "RAW":
            fleet.raw = True
            for station in fleet.stations:
                station.queue_backlog(rng)
                # Spread like the first reconnect after an outage.
                station.backoff.attempts = 0
                station.task = asyncio.create_task(_raw_start(station))
            watcher = asyncio.create_task(_say_when_done(fleet))
        elif line == "REPORT":
            if lookups is not None:
                await lookups
            figures = fleet.figures
            figures.online_at = [getattr(s, "online_at", 0.0) for s in fleet.stations]
            say(json.dumps(figures.__dict__))
        elif line == "STOP":
            break
    fleet.stopping = True
    if watcher is not None:
        watcher.cancel()
    for station in fleet.stations:
        if station.task is not None:
            station.task.cancel()
    await asyncio.gather(*(s.task for s in fleet.stations if s.task), return_exceptions=True)


async def _raw_start(station: Station) -> None:
    await asyncio.sleep(station.backoff.delay(0))
    await station.run()


async def _say_when_done(fleet: Fleet) -> None:
    await fleet.all_done.wait()
    say(f"DONE {time.monotonic()}")


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1]))
