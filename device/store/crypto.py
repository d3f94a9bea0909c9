"""AES-GCM sealing of personal data at rest in the station store.

The key lives in the station's secrets directory (written by provisioning, readable only by
the station's service user), never in the database file, so a copied SD-card database alone
reveals nothing personal.
"""

from __future__ import annotations

import os
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

KEY_BYTES = 32
_NONCE_BYTES = 12


class StoreKeyError(RuntimeError):
    """The store key is missing, unreadable or malformed."""


class SealedDataError(ValueError):
    """A sealed blob does not decrypt with this key (wrong key or tampered data)."""


def create_key_file(path: Path) -> None:
    """Write a fresh random key to ``path`` with mode 0600; refuses to overwrite one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(os.urandom(KEY_BYTES))
        handle.flush()
        os.fsync(handle.fileno())


def load_key(path: Path) -> bytes:
    """Read the store key from ``path``."""
    try:
        key = path.read_bytes()
    except OSError as exc:
        raise StoreKeyError(f"cannot read the store key at {path}: {exc.strerror}") from None
    if len(key) != KEY_BYTES:
        raise StoreKeyError(f"the store key at {path} must be {KEY_BYTES} bytes, not {len(key)}")
    return key


class Sealer:
    """Encrypts and authenticates blobs; ``aad`` binds a blob to its row (the tx id)."""

    def __init__(self, key: bytes) -> None:
        self._aead = AESGCM(key)

    def seal(self, plaintext: bytes, aad: bytes) -> bytes:
        """Return nonce + ciphertext + tag."""
        nonce = os.urandom(_NONCE_BYTES)
        return nonce + self._aead.encrypt(nonce, plaintext, aad)

    def open(self, blob: bytes, aad: bytes) -> bytes:
        """Return the plaintext of a blob made by :meth:`seal` with the same ``aad``."""
        try:
            return self._aead.decrypt(blob[:_NONCE_BYTES], blob[_NONCE_BYTES:], aad)
        except InvalidTag:
            raise SealedDataError("sealed data does not authenticate with this key") from None
