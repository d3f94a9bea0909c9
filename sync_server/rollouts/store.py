"""The release files on the server's disk, stored by SHA-256 and read back by block.

A file is written to a temporary name, checked against its hash, fsynced and renamed into
place, so a file under its id is always whole. The directory is ``RELEASES_DIR`` (default
``instance/releases``).
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from pathlib import Path


class StoreError(RuntimeError):
    """A file is missing, or its bytes do not match its id."""


def sha256_of(path: Path) -> str:
    """The hex SHA-256 of a file's bytes, read in 1 MiB chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


class FileStore:
    """Files by id (their SHA-256) under ``root``."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def path(self, file_id: str) -> Path:
        """Where the file with ``file_id`` lives (two-character fan-out)."""
        if len(file_id) != 64 or not all(c in "0123456789abcdef" for c in file_id):
            raise StoreError("a file id is a lowercase hex SHA-256")
        return self.root / file_id[:2] / file_id

    def has(self, file_id: str) -> bool:
        """Whether the store holds the file."""
        return self.path(file_id).is_file()

    def put(self, source: Path, file_id: str) -> Path:
        """Copy ``source`` in as ``file_id``; raises :class:`StoreError` if the hash differs."""
        target = self.path(file_id)
        if target.is_file():
            return target
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, temporary = tempfile.mkstemp(dir=target.parent, prefix=".incoming-")
        try:
            with os.fdopen(fd, "wb") as out, open(source, "rb") as handle:
                shutil.copyfileobj(handle, out, 1 << 20)
                out.flush()
                os.fsync(out.fileno())
            if sha256_of(Path(temporary)) != file_id:
                raise StoreError(f"{source.name}: its SHA-256 is not the one the manifest names")
            os.replace(temporary, target)
        finally:
            Path(temporary).unlink(missing_ok=True)
        return target

    def read_block(self, file_id: str, index: int, block_size: int) -> bytes:
        """Bytes ``index * block_size`` onwards, at most ``block_size`` of them."""
        try:
            with open(self.path(file_id), "rb") as handle:
                handle.seek(index * block_size)
                return handle.read(block_size)
        except FileNotFoundError:
            raise StoreError(f"file {file_id} is not in the store") from None
