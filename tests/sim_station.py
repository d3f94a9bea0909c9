"""A simulated station that speaks the rollout contract over a real broker (tests only).

It connects with the station's own certificate (so the broker's ACL applies), receives
jobs, verifies their signature, fetches files by blocks into memory, reports progress, and
can be told how its install ends. It is the server side's counterpart in the tests, not a
model of the station's installer (``device/update``).
"""

from __future__ import annotations

import queue
import threading
import uuid
from datetime import UTC, datetime

import paho.mqtt.client as mqtt
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from paho.mqtt.subscribeoptions import SubscribeOptions

from contract import Channel, decode, encode, station_topic
from contract.rollout import (
    FileBlock,
    FileMessage,
    FileRefusal,
    FileRequest,
    Job,
    JobProgress,
    bitmap_of,
    block_count,
    verify_job,
)
from contract.transport import QOS, BrokerSettings, connect_properties, new_client


class SimStation:
    """See the module docstring. ``blocks[file_id][index]`` holds what arrived."""

    def __init__(self, station_id: str, broker: BrokerSettings, server_public: Ed25519PublicKey):
        self.station_id = station_id
        self.server_public = server_public
        self.jobs: queue.Queue[Job] = queue.Queue()
        self.rejected: list[str] = []
        self.blocks: dict[str, dict[int, bytes]] = {}
        self.refusals: list[FileRefusal] = []
        self.changed = threading.Condition()
        self.connected = threading.Event()
        self._broker = broker
        client = new_client(station_id, broker)
        client.on_connect = self._on_connect
        client.on_disconnect = lambda *args: self.connected.clear()
        client.on_message = self._on_message
        client.reconnect_delay_set(min_delay=0.1, max_delay=0.5)
        self.client = client

    def start(self) -> SimStation:
        """Connect with a persistent session, as a station does."""
        self.client.connect_async(
            self._broker.host, self._broker.port, clean_start=False, properties=connect_properties()
        )
        self.client.loop_start()
        return self

    def stop(self) -> None:
        """Disconnect; safe twice."""
        self.client.disconnect()
        self.client.loop_stop()

    def _on_connect(self, client, userdata, flags, reason_code, properties) -> None:
        client.subscribe(
            [
                (station_topic(self.station_id, Channel.JOB), SubscribeOptions(qos=QOS)),
                (station_topic(self.station_id, Channel.FILE_BLOCK), SubscribeOptions(qos=QOS)),
            ]
        )
        self.connected.set()

    def _on_message(self, client, userdata, message: mqtt.MQTTMessage) -> None:
        if message.topic.endswith("/job"):
            job = decode(message.payload, Job)
            try:
                verify_job(
                    message.payload,
                    job,
                    station_id=self.station_id,
                    server_public=self.server_public,
                )
            except ValueError as exc:
                self.rejected.append(str(exc))
                return
            self.jobs.put(job)
            return
        answer = decode(message.payload, FileMessage)
        with self.changed:
            if isinstance(answer, FileBlock):
                self.blocks.setdefault(answer.file_id, {})[answer.index] = answer.data
            else:
                self.refusals.append(answer)
            self.changed.notify_all()

    # -- what the tests drive ---------------------------------------------------------------

    def report(self, job: Job, state: str, **fields: object) -> None:
        """Publish a progress report on the job."""
        progress = JobProgress(
            job_id=job.job_id,
            station_id=self.station_id,
            state=state,
            station_time=datetime.now(UTC),
            **fields,
        )
        self.client.publish(
            station_topic(self.station_id, Channel.JOB_PROGRESS), encode(progress), qos=QOS
        )

    def request(
        self,
        job_id: str,
        file_id: str,
        first: int,
        count: int,
        *,
        missing: set[int] | None = None,
        block_size: int = 32 * 1024,
        station_id: str | None = None,
    ) -> str:
        """Ask for blocks; returns the request id."""
        request_id = uuid.uuid4().hex
        request = FileRequest(
            station_id=station_id or self.station_id,
            job_id=job_id,
            file_id=file_id,
            request_id=request_id,
            block_size=block_size,
            first=first,
            count=count,
            bitmap=bitmap_of(missing, first, count) if missing is not None else None,
        )
        self.client.publish(
            station_topic(self.station_id, Channel.FILE_REQUEST), encode(request), qos=QOS
        )
        return request_id

    def missing(self, file_id: str, size: int, block_size: int = 32 * 1024) -> set[int]:
        """Blocks of the file not yet here."""
        have = self.blocks.get(file_id, {})
        return set(range(block_count(size, block_size))) - set(have)

    def assembled(self, file_id: str, size: int, block_size: int = 32 * 1024) -> bytes:
        """The file from its blocks (all must be here)."""
        have = self.blocks[file_id]
        return b"".join(have[i] for i in range(block_count(size, block_size)))

    def wait(self, predicate, timeout: float = 20.0) -> bool:
        """Wait until ``predicate()`` holds after a message arrived."""
        with self.changed:
            return self.changed.wait_for(predicate, timeout)
