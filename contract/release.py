"""A release artifact's manifest, its Ed25519 signature and the check of its files.

The build machine (``dcs-release build``, devtools/release/) writes a manifest that names every
file of the release (the project's wheel and each locked dependency's wheel) with its SHA-256
and size, and signs it with the **release key**. The station (device/update/) trusts only the
release public key from its signed provisioning bundle, checks the signature over the manifest
bytes exactly as they arrived, then every file against the manifest, before it installs
anything.

The release key is separate from the fleet CA (which signs bundles and certificates) and from
the server's command key: whoever can publish software is not thereby able to enrol stations,
and the other way round. The signed bytes start with :data:`CONTEXT`, so a release signature
can never pass for a command or replica signature made with the same kind of key.
"""

from __future__ import annotations

import base64
import hashlib
import os
from datetime import datetime
from pathlib import Path, PurePosixPath
from typing import Annotated, Literal

import msgspec
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from contract.errors import ContractError

CONTEXT = b"dcs/v1 release\x00"
FORMAT = 1
MANIFEST_NAME = "release.json"
SIGNATURE_NAME = "release.sig"
#: Where the wheels sit inside a release (the manifest's paths start with it).
WHEELS_DIR = "wheels"
ARCHES = ("x86_64", "aarch64")

Sha256 = Annotated[str, msgspec.Meta(pattern=r"^[0-9a-f]{64}$")]


class ReleaseError(ContractError):
    """A release is unsigned, signed by another key, altered, or not for this station."""


class ReleaseFile(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """One file of the release, relative to the release directory."""

    path: str
    sha256: Sha256
    size: Annotated[int, msgspec.Meta(ge=0)]


class ReleaseManifest(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """What a release is: which version, for which machine, made of which files."""

    format: Literal[1] = FORMAT
    #: The distribution name of the project (``digital-citizen-station``).
    package: str
    #: The version from the project's own package metadata (never a hand-typed string).
    version: Annotated[str, msgspec.Meta(pattern=r"^[0-9A-Za-z][0-9A-Za-z.+!_-]{0,63}$")]
    arch: Literal["x86_64", "aarch64"]
    #: The Python the wheels are for, ``major.minor``.
    python: Annotated[str, msgspec.Meta(pattern=r"^3\.[0-9]{1,2}$")]
    created_at: datetime
    #: The project's own wheel (one of ``files``): what ``pip install`` is asked for.
    project_wheel: str
    files: tuple[ReleaseFile, ...]


def canonical_bytes(manifest: ReleaseManifest) -> bytes:
    """The manifest as written to ``release.json``: JSON with sorted keys, no spaces."""
    return msgspec.json.encode(msgspec.to_builtins(manifest), order="sorted")


def signed_bytes(manifest_bytes: bytes) -> bytes:
    """What the release signature covers."""
    return CONTEXT + manifest_bytes


def sign_manifest(manifest: ReleaseManifest, key: Ed25519PrivateKey) -> tuple[bytes, bytes]:
    """``(manifest_bytes, signature)`` to write as ``release.json`` and ``release.sig``."""
    data = canonical_bytes(manifest)
    return data, key.sign(signed_bytes(data))


def verify_manifest(
    manifest_bytes: bytes, signature: bytes, public_key: Ed25519PublicKey | None
) -> ReleaseManifest:
    """The manifest, if ``signature`` is the release key's over exactly these bytes.

    ``public_key=None`` (a station provisioned without a release key) refuses every release:
    fail closed.
    """
    if public_key is None:
        raise ReleaseError("this station has no release key in its bundle: it installs nothing")
    try:
        public_key.verify(signature, signed_bytes(manifest_bytes))
    except InvalidSignature:
        raise ReleaseError("the release is not signed by the fleet's release key") from None
    try:
        manifest = msgspec.json.decode(manifest_bytes, type=ReleaseManifest)
    except msgspec.ValidationError as exc:
        raise ReleaseError(f"the release manifest is invalid: {exc}") from None
    check_paths(manifest)
    return manifest


def check_paths(manifest: ReleaseManifest) -> None:
    """Every path is a plain wheel under ``wheels/``: no ``..``, no absolute path, no repeat."""
    seen = set()
    for item in manifest.files:
        path = PurePosixPath(item.path)
        if (
            path.is_absolute()
            or len(path.parts) != 2
            or path.parts[0] != WHEELS_DIR
            or path.parts[1] in ("", ".", "..")
            or not path.name.endswith(".whl")
        ):
            raise ReleaseError(f"the release names a file outside {WHEELS_DIR}/: {item.path!r}")
        if item.path in seen:
            raise ReleaseError(f"the release names {item.path} twice")
        seen.add(item.path)
    if manifest.project_wheel not in seen:
        raise ReleaseError("the release's project wheel is not among its files")


def file_entry(root: Path, relative: str) -> ReleaseFile:
    """Hash and measure ``root/relative`` for the manifest."""
    path = Path(root) / relative
    digest = hashlib.sha256()
    size = 0
    with open(path, "rb") as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
            size += len(chunk)
    return ReleaseFile(path=relative, sha256=digest.hexdigest(), size=size)


def verify_files(manifest: ReleaseManifest, root: Path) -> None:
    """Every file the manifest names is under ``root`` with its size and hash, and no other."""
    root = Path(root)
    expected = {item.path: item for item in manifest.files}
    present = {
        path.relative_to(root).as_posix()
        for path in root.rglob("*")
        if path.is_file() or path.is_symlink()
    } - {MANIFEST_NAME, SIGNATURE_NAME}
    if extra := sorted(present - set(expected)):
        raise ReleaseError(f"the release holds files its manifest does not name: {extra}")
    if missing := sorted(set(expected) - present):
        raise ReleaseError(f"the release lacks files its manifest names: {missing}")
    for relative, item in expected.items():
        if (root / relative).is_symlink():
            raise ReleaseError(f"{relative} is a symlink")
        if file_entry(root, relative) != item:
            raise ReleaseError(f"{relative} does not match the signed manifest: altered")


def public_key_text(key: Ed25519PublicKey) -> str:
    """The public key as 44 base64 characters (how bundles and configs carry keys)."""
    raw = key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return base64.b64encode(raw).decode()


def load_public_key(text: str) -> Ed25519PublicKey:
    """The release public key from its base64 text."""
    try:
        return Ed25519PublicKey.from_public_bytes(base64.b64decode(text, validate=True))
    except ValueError:
        raise ReleaseError("the release public key is not 32 bytes of base64") from None


def write_private_key(path: Path, key: Ed25519PrivateKey) -> None:
    """Save the release signing key (PKCS#8 PEM, owner-only), refusing to overwrite one."""
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(pem)


def load_private_key(path: Path) -> Ed25519PrivateKey:
    """The release signing key from its PEM file."""
    key = serialization.load_pem_private_key(Path(path).read_bytes(), password=None)
    if not isinstance(key, Ed25519PrivateKey):
        raise ReleaseError(f"{path} is not an Ed25519 private key")
    return key
