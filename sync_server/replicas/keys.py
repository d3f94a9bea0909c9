"""The server's replica signing key (Ed25519): stations trust replicas signed with it.

Kept in a file of its own (raw 32-byte seed, mode 0600), named by ``REPLICA_SIGNING_KEY_FILE``
or ``instance/replica-signing.key``, created on first use. Its public half goes into every
station's config as ``replica.server_public_key`` (``dcs-server replica server-key``).
"""

from __future__ import annotations

import base64
import os
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat

from contract.replica_seal import raw_public


class ReplicaKeyError(RuntimeError):
    """The signing key file is unreadable or malformed."""


def load_or_create_signing_key(path: Path) -> Ed25519PrivateKey:
    """The key in ``path``; a new one is written (0600, never overwritten) if it is missing."""
    path = Path(path)
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        seed = Ed25519PrivateKey.generate().private_bytes(
            Encoding.Raw, PrivateFormat.Raw, NoEncryption()
        )
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            pass  # another process made it first: use theirs
        else:
            with os.fdopen(fd, "wb") as handle:
                handle.write(seed)
                handle.flush()
                os.fsync(handle.fileno())
    try:
        seed = path.read_bytes()
    except OSError as exc:
        raise ReplicaKeyError(
            f"cannot read the replica signing key {path}: {exc.strerror}"
        ) from None
    if len(seed) != 32:
        raise ReplicaKeyError(f"the replica signing key {path} must be 32 bytes")
    return Ed25519PrivateKey.from_private_bytes(seed)


def signing_key_path(config: dict, instance_path: str) -> Path:
    """Where the app's signing key lives."""
    configured = config.get("REPLICA_SIGNING_KEY_FILE")
    return Path(configured) if configured else Path(instance_path) / "replica-signing.key"


def public_key_text(key: Ed25519PrivateKey | Ed25519PublicKey) -> str:
    """The public key as stations' configs carry it (base64 of the 32 raw bytes)."""
    public = key.public_key() if isinstance(key, Ed25519PrivateKey) else key
    return base64.b64encode(raw_public(public)).decode()
