"""Reading and verifying a release manifest on upload.

The manifest is what ``dcs-release build`` writes (``release.json``, ``contract/release.py``):
JSON with the release's ``version``, target ``arch``, ``python`` and its ``files``, each named
by ``path`` with its ``sha256`` and ``size``. The release key (Ed25519, kept offline, apart
from the fleet CA and from the server's signing key) signs :data:`RELEASE_CONTEXT` followed
by the manifest's exact bytes (``release.sig``, 64 raw bytes). The server
checks that signature with the release *public* key from its config before it stores
anything: it relays releases, it cannot make one.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from contract.rollout import MAX_FILE_SIZE

#: ``contract.release.CONTEXT``: what a release signature starts with. Repeated here because
#: the station half (contract/release.py) lands in another branch; import it once merged.
RELEASE_CONTEXT = b"dcs/v1 release\x00"


class ManifestError(ValueError):
    """The manifest is unsigned, wrongly signed or malformed."""


@dataclass(frozen=True)
class ManifestFile:
    """One file the manifest names."""

    name: str
    sha256: str
    size: int


@dataclass(frozen=True)
class Manifest:
    """What the server needs of a manifest."""

    version: str
    arch: str
    python: str
    files: tuple[ManifestFile, ...]


def release_public_key(text: str) -> Ed25519PublicKey:
    """The release public key from its base64 text (raw 32 bytes)."""
    try:
        raw = base64.b64decode(text.strip(), validate=True)
        return Ed25519PublicKey.from_public_bytes(raw)
    except ValueError:
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


def verify(manifest: bytes, signature: bytes, public_key: Ed25519PublicKey) -> None:
    """Raise :class:`ManifestError` unless ``signature`` is the release key's over ``manifest``."""
    try:
        public_key.verify(signature, RELEASE_CONTEXT + manifest)
    except InvalidSignature:
        raise ManifestError("the manifest is not signed by the release key") from None


def parse(manifest: bytes) -> Manifest:
    """The manifest's version, target and files; raises :class:`ManifestError`."""
    try:
        data = json.loads(manifest)
        files = tuple(
            ManifestFile(
                name=str(entry.get("name") or entry["path"]),
                sha256=str(entry["sha256"]).lower(),
                size=int(entry["size"]),
            )
            for entry in data["files"]
        )
        parsed = Manifest(
            version=str(data["version"]),
            arch=str(data.get("arch") or data.get("target_arch") or ""),
            python=str(data.get("python") or data.get("python_version") or ""),
            files=files,
        )
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise ManifestError(f"the manifest is malformed: {exc!r}") from None
    for entry in parsed.files:
        if len(entry.sha256) != 64 or not 0 <= entry.size <= MAX_FILE_SIZE:
            raise ManifestError(f"the manifest's entry for {entry.name} is malformed")
        if Path(entry.name).is_absolute() or ".." in Path(entry.name).parts:
            raise ManifestError(f"the manifest names a file outside the artifact: {entry.name}")
    return parsed
