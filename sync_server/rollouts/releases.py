"""The release registry: upload an artifact, verify it, store its files; list releases.

An artifact is a directory as ``dcs-release build`` leaves it: ``release.json`` (the
manifest), its detached signature ``release.sig`` and the files the manifest names, by their
relative paths (``wheels/...``). Nothing is stored unless the signature verifies with the release
public key and every file matches its size and SHA-256.
"""

from __future__ import annotations

import hashlib
import tarfile
import tempfile
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from contract.release import MANIFEST_NAME, SIGNATURE_NAME
from sync_server.audit import audit
from sync_server.db import write_transaction
from sync_server.rollouts import manifest as manifests
from sync_server.rollouts.models import Release, ReleaseFile
from sync_server.rollouts.store import FileStore, StoreError, sha256_of

#: A manifest travels to the stations as a file like any other; its name in the registry.
MANIFEST_ENTRY = MANIFEST_NAME


class ReleaseError(ValueError):
    """The artifact cannot be registered (bad signature, missing file, known version...)."""


def _signature(artifact: Path) -> bytes:
    if not (artifact / SIGNATURE_NAME).is_file():
        raise ReleaseError(f"no manifest signature ({SIGNATURE_NAME}) in {artifact}")
    try:
        return manifests.read_signature(artifact / SIGNATURE_NAME)
    except manifests.ManifestError as exc:
        raise ReleaseError(str(exc)) from None


def upload(
    artifact: Path, *, public_key: Ed25519PublicKey, store: FileStore, actor: str
) -> Release:
    """Verify and register the release in ``artifact``; audited as ``release.upload``.

    ``artifact`` is the directory, or the tar ``dcs-release build`` writes (unpacked into a
    temporary directory first: regular files only, nothing outside it).
    """
    artifact = Path(artifact)
    if artifact.is_file():
        with tempfile.TemporaryDirectory(prefix="dcs-release-") as scratch:
            try:
                with tarfile.open(artifact, "r:") as tar:
                    tar.extractall(scratch, filter="data")
            except (tarfile.TarError, OSError) as exc:
                raise ReleaseError(f"cannot read the artifact {artifact.name}: {exc}") from None
            return upload(Path(scratch), public_key=public_key, store=store, actor=actor)
    try:
        manifest_bytes = (artifact / MANIFEST_NAME).read_bytes()
    except OSError:
        raise ReleaseError(f"no {MANIFEST_NAME} in {artifact}") from None
    signature = _signature(artifact)
    try:
        manifest = manifests.verified(manifest_bytes, signature, public_key)
    except manifests.ManifestError as exc:
        with write_transaction():
            audit(actor, "release.upload", artifact.name[:64], "refused")
        raise ReleaseError(str(exc)) from None
    if Release.get_or_none(Release.version == manifest.version) is not None:
        raise ReleaseError(f"release {manifest.version} is already registered")
    for entry in manifest.files:
        path = artifact / entry.path
        if not path.is_file() or path.stat().st_size != entry.size:
            raise ReleaseError(f"{entry.path}: missing or not {entry.size} bytes")
        if sha256_of(path) != entry.sha256:
            raise ReleaseError(f"{entry.path}: its SHA-256 is not the one the manifest names")
    manifest_id = hashlib.sha256(manifest_bytes).hexdigest()
    try:
        store.put(artifact / MANIFEST_NAME, manifest_id)
        for entry in manifest.files:
            store.put(artifact / entry.path, entry.sha256)
    except StoreError as exc:  # changed on disk since it was checked
        raise ReleaseError(str(exc)) from None
    with write_transaction():
        release = Release.create(
            version=manifest.version,
            arch=manifest.arch[:32],
            python=manifest.python[:16],
            manifest_id=manifest_id,
            manifest_size=len(manifest_bytes),
            manifest_signature=signature,
            total_bytes=len(manifest_bytes) + sum(entry.size for entry in manifest.files),
            uploaded_by=actor,
        )
        ReleaseFile.create(
            release=release, file_id=manifest_id, name=MANIFEST_ENTRY, size=len(manifest_bytes)
        )
        seen = {manifest_id}
        for entry in manifest.files:
            if entry.sha256 in seen:  # the same bytes under two names travel once
                continue
            seen.add(entry.sha256)
            ReleaseFile.create(
                release=release, file_id=entry.sha256, name=entry.path[:200], size=entry.size
            )
        audit(actor, "release.upload", manifest.version, "ok")
    return release


def releases() -> list[Release]:
    """Every registered release, newest first."""
    return list(Release.select().order_by(Release.uploaded_at.desc(), Release.id.desc()))


def by_version(version: str) -> Release | None:
    """The release with this version, if registered."""
    return Release.get_or_none(Release.version == version)
