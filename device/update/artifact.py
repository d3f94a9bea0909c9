"""Open a release artifact: the signature and every hash are checked before it is used.

The artifact is a tar whose first two members are ``release.json`` and ``release.sig``.
They are read into memory and verified with the release key from the station's bundle; only
then are the wheels unpacked — each only if the signed manifest names it, as a regular file,
with its size and SHA-256 checked while it is written — into ``staging/``. Anything else in
the tar (a link, a device, an unnamed file, a path outside) refuses the whole release.
"""

from __future__ import annotations

import hashlib
import platform
import shutil
import tarfile
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from contract.release import (
    MANIFEST_NAME,
    SIGNATURE_NAME,
    ReleaseError,
    ReleaseManifest,
    verify_files,
    verify_manifest,
)
from device import DISTRIBUTION

#: The manifest and its signature are small; a bigger member there is not ours.
_MAX_HEADER_BYTES = 1 << 20


def _read_member(tar: tarfile.TarFile, member: tarfile.TarInfo) -> bytes:
    if not member.isfile() or member.size > _MAX_HEADER_BYTES:
        raise ReleaseError(f"{member.name} in the artifact is not a small regular file")
    handle = tar.extractfile(member)
    assert handle is not None  # a regular file
    return handle.read()


def read_manifest(artifact: Path, public_key: Ed25519PublicKey | None) -> ReleaseManifest:
    """The artifact's manifest, verified; nothing is unpacked."""
    try:
        with tarfile.open(artifact, "r:") as tar:
            return _verified_header(tar, public_key)[0]
    except (tarfile.TarError, OSError) as exc:
        raise ReleaseError(f"cannot read the artifact {artifact}: {exc}") from None


def _verified_header(
    tar: tarfile.TarFile, public_key: Ed25519PublicKey | None
) -> tuple[ReleaseManifest, bytes, bytes]:
    first, second = tar.next(), tar.next()
    if (
        first is None
        or second is None
        or (first.name, second.name)
        != (
            MANIFEST_NAME,
            SIGNATURE_NAME,
        )
    ):
        raise ReleaseError("the artifact does not start with its manifest and signature")
    manifest_bytes, signature = _read_member(tar, first), _read_member(tar, second)
    manifest = verify_manifest(manifest_bytes, signature, public_key)
    if manifest.package != DISTRIBUTION:
        raise ReleaseError(f"the release is of {manifest.package}, not {DISTRIBUTION}")
    if manifest.arch != platform.machine():
        raise ReleaseError(f"the release is for {manifest.arch}, this is {platform.machine()}")
    return manifest, manifest_bytes, signature


def unpack_verified(
    artifact: Path, public_key: Ed25519PublicKey | None, staging: Path
) -> ReleaseManifest:
    """Verify the artifact and unpack its wheels into ``staging`` (emptied first)."""
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    try:
        with tarfile.open(artifact, "r:") as tar:
            manifest, manifest_bytes, signature = _verified_header(tar, public_key)
            expected = {item.path: item for item in manifest.files}
            for member in tar:
                if member.name in (MANIFEST_NAME, SIGNATURE_NAME):
                    continue  # read and verified above (iteration starts over)
                item = expected.pop(member.name, None)
                if item is None or not member.isfile() or member.size != item.size:
                    raise ReleaseError(f"{member.name} is not a file the signed manifest names")
                source = tar.extractfile(member)
                assert source is not None
                target = staging / item.path
                target.parent.mkdir(parents=True, exist_ok=True)
                digest = hashlib.sha256()
                with open(target, "wb") as out:
                    while chunk := source.read(1 << 20):
                        digest.update(chunk)
                        out.write(chunk)
                if digest.hexdigest() != item.sha256:
                    raise ReleaseError(f"{item.path} does not match the signed manifest: altered")
            if expected:
                raise ReleaseError(f"the artifact lacks {sorted(expected)}")
    except (tarfile.TarError, OSError) as exc:
        raise ReleaseError(f"cannot read the artifact {artifact}: {exc}") from None
    verify_files(manifest, staging)  # and nothing else landed there
    # Kept with the release: what it is, provably (``update status`` shows it).
    (staging / MANIFEST_NAME).write_bytes(manifest_bytes)
    (staging / SIGNATURE_NAME).write_bytes(signature)
    return manifest
