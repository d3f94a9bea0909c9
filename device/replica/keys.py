"""The station's replica key pair (X25519) and the server's signing key it trusts (Ed25519).

The private key is made on the station, in its secrets directory (mode 0600), and never
leaves it; the server is given the public half at enrolment
(``python -m device.replica key --config station.toml`` prints it).
"""

from __future__ import annotations

import base64
import binascii
import os
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat

from contract.replica_seal import raw_public
from device.errors import ConfigError


def load_or_create_station_key(path: Path) -> X25519PrivateKey:
    """The station's replica key in ``path``; made (0600, never overwritten) if missing."""
    path = Path(path)
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        raw = X25519PrivateKey.generate().private_bytes(
            Encoding.Raw, PrivateFormat.Raw, NoEncryption()
        )
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            pass  # made by another process meanwhile (the daemon and a CLI): use it
        else:
            with os.fdopen(fd, "wb") as handle:
                handle.write(raw)
                handle.flush()
                os.fsync(handle.fileno())
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"cannot read the replica key {path}: {exc.strerror}") from None
    if len(raw) != 32:
        raise ConfigError(f"the replica key {path} must be 32 bytes")
    return X25519PrivateKey.from_private_bytes(raw)


def public_key_text(key: X25519PrivateKey) -> str:
    """The station's public key as the server's enrolment takes it (base64)."""
    return base64.b64encode(raw_public(key.public_key())).decode()


def server_public_key(text: str, setting: str = "replica.server_public_key") -> Ed25519PublicKey:
    """The server's signing key from the config's base64 text (``setting`` names it)."""
    try:
        raw = base64.b64decode(text, validate=True)
        return Ed25519PublicKey.from_public_bytes(raw)
    except (binascii.Error, ValueError):
        raise ConfigError(f"{setting} is not a base64 Ed25519 key") from None
