"""Fetching a file by blocks over MQTT, resumable across disconnects, restarts and power cuts.

A file in progress is ``<dir>/<file_id>.part`` (blocks written at ``index * block_size``)
beside ``<dir>/<file_id>.map``, the bitmap of the blocks known to be on disk. After each run
of blocks the part file is fsynced *before* the map is rewritten, so after a power cut the
map never claims a block the disk lost; at worst a few blocks are fetched again. A finished
file is checked against its id (its SHA-256) and renamed into the cache, where a later job
finds it by hash and fetches nothing (the wheels of the dependencies rarely change between
releases).

The server answers a request with up to 64 blocks (``contract.rollout``); the fetcher asks
for the next run of missing blocks when the last one is in, and asks again for what is
still missing of a run after ``stall_s`` without a block (blocks lost with a broker restart,
a request sent while offline). Blocks still queued in the station's persistent session
arrive after a reconnect and are simply written.
"""

from __future__ import annotations

import contextlib
import hashlib
import math
import os
import queue
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import msgspec

from contract import Channel, decode, encode
from contract.errors import ContractError
from contract.rollout import (
    MAX_BLOCKS_PER_REQUEST,
    FileBlock,
    FileMessage,
    FileRefusal,
    FileRequest,
    bitmap_of,
    block_count,
)
from device.atomic_file import write_atomically
from device.errors import StationError


class DownloadError(StationError):
    """The file could not be fetched: refused by the server, altered, or given up."""


class Cancelled(StationError):
    """The job was stopped (a rollback job named it) while its files were fetched."""


class _Map(msgspec.Struct):
    size: int
    block_size: int
    have: bytes


def sha256_file(path: Path) -> str:
    """The hex SHA-256 of a file."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


class BlockFile:
    """One file being assembled from its blocks (see the module docstring)."""

    def __init__(self, directory: Path, file_id: str, size: int, block_size: int) -> None:
        self.file_id, self.size, self.block_size = file_id, size, block_size
        self.count = block_count(size, block_size)
        directory.mkdir(parents=True, exist_ok=True)
        self.part = directory / f"{file_id}.part"
        self.map = directory / f"{file_id}.map"
        self.have = bytearray(math.ceil(self.count / 8))
        try:
            saved = msgspec.json.decode(self.map.read_bytes(), type=_Map)
            if (saved.size, saved.block_size, len(saved.have)) == (
                size,
                block_size,
                len(self.have),
            ):
                self.have[:] = saved.have
        except (OSError, msgspec.DecodeError):
            pass  # nothing saved (or damaged): every block is fetched
        self._fd = os.open(self.part, os.O_RDWR | os.O_CREAT, 0o600)

    def has(self, index: int) -> bool:
        return bool(self.have[index // 8] >> (index % 8) & 1)

    def missing(self) -> list[int]:
        """Blocks not yet on disk, in order."""
        return [i for i in range(self.count) if not self.has(i)]

    def done_bytes(self) -> int:
        """Bytes of the file on disk."""
        return sum(self.expected_length(i) for i in range(self.count) if self.has(i))

    def expected_length(self, index: int) -> int:
        return min(self.block_size, self.size - index * self.block_size)

    def write(self, index: int, data: bytes) -> bool:
        """Write block ``index``; ``False`` (ignored) if it is not one of this file's blocks."""
        if not 0 <= index < self.count or len(data) != self.expected_length(index):
            return False
        os.pwrite(self._fd, data, index * self.block_size)
        self.have[index // 8] |= 1 << (index % 8)
        return True

    def checkpoint(self) -> None:
        """Make the blocks written so far durable, then record them in the map."""
        os.fsync(self._fd)
        write_atomically(
            self.map, msgspec.json.encode(_Map(self.size, self.block_size, bytes(self.have)))
        )

    def finish(self, target: Path) -> Path:
        """Check the whole file against its id and move it to ``target``."""
        os.fsync(self._fd)
        os.close(self._fd)
        self._fd = -1
        if self.size == 0:
            self.part.write_bytes(b"")
        if sha256_file(self.part) != self.file_id:
            self.discard()
            raise DownloadError(f"file {self.file_id[:12]} does not match its hash: fetched again")
        target.parent.mkdir(parents=True, exist_ok=True)
        os.replace(self.part, target)
        self.map.unlink(missing_ok=True)
        return target

    def discard(self) -> None:
        """Forget the partial file."""
        self.close()
        self.part.unlink(missing_ok=True)
        self.map.unlink(missing_ok=True)

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1


class Fetcher:
    """Fetches files of a job over the station's link, one run of blocks at a time.

    ``publish(channel, payload)`` sends on the station's own topic; :meth:`on_message` is
    routed the ``file/block`` channel (it runs on the network thread and only queues).
    """

    def __init__(
        self,
        station_id: str,
        publish: Callable[[Channel, bytes], object],
        *,
        stall_s: float = 15.0,
        give_up_s: float = 600.0,
    ) -> None:
        self.station_id = station_id
        self._publish = publish
        self.stall_s = stall_s
        self.give_up_s = give_up_s
        self._inbox: queue.Queue[FileBlock | FileRefusal] = queue.Queue(maxsize=1024)
        #: Bytes received over the link (the benchmark's and the tests' figure).
        self.received = 0

    def on_message(self, payload: bytes) -> None:
        """A block or refusal arrived (network thread)."""
        try:
            message = decode(payload, FileMessage)
        except ContractError:
            return
        if message.station_id != self.station_id:
            return
        with contextlib.suppress(queue.Full):  # dropped: asked for again after the stall
            self._inbox.put_nowait(message)

    def fetch(
        self,
        job_id: str,
        file_id: str,
        size: int,
        block_size: int,
        partial_dir: Path,
        target: Path,
        *,
        cancelled: threading.Event,
        progress: Callable[[int], None] = lambda done: None,
    ) -> Path:
        """Fetch the file into ``target`` (kept partial in ``partial_dir`` until whole)."""
        blocks = BlockFile(partial_dir, file_id, size, block_size)
        try:
            last_block = time.monotonic()
            while missing := blocks.missing():
                if cancelled.is_set():
                    raise Cancelled("stopped by a rollback job")
                first = missing[0]
                count = min(MAX_BLOCKS_PER_REQUEST, blocks.count - first)
                wanted = {i for i in missing if i < first + count}
                self._request(job_id, file_id, block_size, first, count, wanted)
                asked_at = time.monotonic()
                while wanted:
                    if cancelled.is_set():
                        raise Cancelled("stopped by a rollback job")
                    try:
                        message = self._inbox.get(timeout=0.5)
                    except queue.Empty:
                        message = None
                    now = time.monotonic()
                    if message is None:
                        if now - last_block > self.give_up_s:
                            raise DownloadError(f"no block for {self.give_up_s:.0f} s: given up")
                        if now - asked_at > self.stall_s:
                            break  # ask again for what is missing
                        continue
                    if message.file_id != file_id:
                        continue  # a late answer of an earlier file
                    if isinstance(message, FileRefusal):
                        retry = self._refused(message)
                        time.sleep(retry)
                        break
                    if message.block_size == block_size and message.file_size == size:
                        if not blocks.has(message.index) and blocks.write(
                            message.index, message.data
                        ):
                            self.received += len(message.data)
                            last_block = now
                        wanted.discard(message.index)
                blocks.checkpoint()
                progress(blocks.done_bytes())
            return blocks.finish(target)
        finally:
            blocks.close()

    def _refused(self, refusal: FileRefusal) -> float:
        """Seconds to wait before asking again; raises when asking again is pointless."""
        if refusal.reason == "budget_exhausted" and refusal.retry_after_s:
            return min(refusal.retry_after_s, 60.0)
        raise DownloadError(f"the server refused the file: {refusal.reason}")

    def _request(
        self, job_id: str, file_id: str, block_size: int, first: int, count: int, wanted: set[int]
    ) -> None:
        request = FileRequest(
            station_id=self.station_id,
            job_id=job_id,
            file_id=file_id,
            request_id=uuid.uuid4().hex,
            block_size=block_size,
            first=first,
            count=count,
            bitmap=None if len(wanted) == count else bitmap_of(wanted, first, count),
        )
        self._publish(Channel.FILE_REQUEST, encode(request))
