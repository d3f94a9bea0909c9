"""Verifying a release manifest on upload, with the contract's own check.

The manifest, its canonical bytes, the release context and the signature check are the
contract's (``contract/release.py``), the very code the station runs before it installs
anything: the server and the stations cannot disagree on what a valid release is. This
module only adds what the server needs on top: reading a detached signature file that may
be raw or base64, the server config's key, and the delivery's size limit.
"""

from __future__ import annotations

import base64
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from contract.release import ReleaseError, ReleaseManifest, load_public_key, verify_manifest
from contract.rollout import MAX_FILE_SIZE


class ManifestError(ValueError):
    """The manifest is unsigned, wrongly signed or malformed."""


def release_public_key(text: str) -> Ed25519PublicKey:
    """The release public key from its base64 text (raw 32 bytes)."""
    try:
        return load_public_key(text.strip())
    except ReleaseError:
        raise ManifestError("RELEASE_PUBLIC_KEY is not a base64 Ed25519 public key") from None


def read_signature(path: Path) -> bytes:
    """A detached signature file: 64 raw bytes, or their base64."""
    data = path.read_bytes()
    if len(data) == 64:
        return data
    try:
        raw = base64.b64decode(data.strip(), validate=True)
    except ValueError:
        raw = b""
    if len(raw) != 64:
        raise ManifestError(f"{path.name} is not an Ed25519 signature")
    return raw


def verified(manifest: bytes, signature: bytes, public_key: Ed25519PublicKey) -> ReleaseManifest:
    """The manifest if the release key signed exactly these bytes; :class:`ManifestError` if not.

    ``contract.release.verify_manifest`` checks the signature, the format and the paths;
    the server adds the largest file it will deliver (``contract.rollout.MAX_FILE_SIZE``).
    """
    try:
        parsed = verify_manifest(manifest, signature, public_key)
    except ReleaseError as exc:
        raise ManifestError(str(exc)) from None
    for entry in parsed.files:
        if entry.size > MAX_FILE_SIZE:
            raise ManifestError(f"{entry.path} is larger than a station may fetch")
    return parsed
