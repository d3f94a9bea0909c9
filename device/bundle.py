"""The station's side of a config bundle: refuse one that the fleet CA did not sign.

A bundle is a directory: ``station.toml``, ``manifest.json`` (SHA-256 of every file,
the station id), ``manifest.sig`` (ECDSA by the fleet's issuing CA) and ``secrets/`` with
the CA chain, the station's certificate and key. The station trusts only the fleet root
installed with its image (``DCS_FLEET_ROOT``, default ``/etc/dcs/fleet-root.crt.pem``) — the
root in the bundle itself proves nothing.

Fail-closed: the daemon runs only a verifying bundle (:func:`require_signed_bundle`; a
missing ``manifest.json`` is a refusal, not a reason to skip the check), and enrolment copies
only the files the manifest signs (:func:`signed_files`), never a key slipped in beside them.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from device.errors import StationError

MANIFEST = "manifest.json"
SIGNATURE = "manifest.sig"
DEFAULT_FLEET_ROOT = Path("/etc/dcs/fleet-root.crt.pem")
#: Secrets the station makes itself (the store's AES key, the replica's X25519 key).
STATION_MADE = frozenset({"secrets/store.key", "secrets/replica.key"})


class BundleError(StationError):
    """The bundle is incomplete, altered, or not signed by this fleet."""


def fleet_root_path() -> Path:
    """Where the station's trusted fleet root certificate is."""
    return Path(os.environ.get("DCS_FLEET_ROOT", str(DEFAULT_FLEET_ROOT)))


def file_digests(bundle: Path) -> dict[str, str]:
    """SHA-256 of every file under ``bundle`` but the manifest and its signature."""
    digests = {}
    for path in sorted(p for p in bundle.rglob("*") if p.is_file()):
        relative = path.relative_to(bundle).as_posix()
        if relative in (MANIFEST, SIGNATURE) or relative.startswith("data/"):
            continue
        if relative in STATION_MADE:
            continue  # made on the station, never part of what the CA signs
        digests[relative] = hashlib.sha256(path.read_bytes()).hexdigest()
    return digests


def _common_name(cert: x509.Certificate) -> str:
    return cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value  # type: ignore[return-value]


def verify_bundle(
    bundle: Path, fleet_root: Path | None = None, *, check_validity: bool = True
) -> dict:
    """Check signature, chain, hashes and identity; returns the manifest or raises.

    ``check_validity=False`` accepts an expired certificate (``station rotate`` replaces it);
    everything else is checked all the same.
    """
    bundle = Path(bundle)
    fleet_root = fleet_root or fleet_root_path()
    if not (bundle / MANIFEST).is_file():
        raise BundleError(
            f"{bundle / MANIFEST} is missing: only a bundle signed by the fleet CA runs "
            "(make one with `dcs-provision station new` and enroll it)"
        )
    try:
        manifest_bytes = (bundle / MANIFEST).read_bytes()
        signature = (bundle / SIGNATURE).read_bytes()
        chain = x509.load_pem_x509_certificates((bundle / "secrets/chain.pem").read_bytes())
        station_cert = x509.load_pem_x509_certificate(
            (bundle / "secrets/station.crt.pem").read_bytes()
        )
        trusted = x509.load_pem_x509_certificate(fleet_root.read_bytes())
    except FileNotFoundError as exc:
        raise BundleError(f"incomplete bundle or no fleet root: {exc.filename}") from None
    except ValueError as exc:
        raise BundleError(f"unreadable certificate in the bundle: {exc}") from None
    intermediate = chain[0]
    try:
        intermediate.verify_directly_issued_by(trusted)
    except (ValueError, TypeError, InvalidSignature):
        raise BundleError("the bundle's CA was not issued by this fleet's root") from None
    public = intermediate.public_key()
    assert isinstance(public, ec.EllipticCurvePublicKey)
    try:
        public.verify(signature, manifest_bytes, ec.ECDSA(hashes.SHA256()))
    except InvalidSignature:
        raise BundleError("the bundle's signature does not verify: it was altered") from None
    manifest = json.loads(manifest_bytes)
    if file_digests(bundle) != manifest["files"]:
        raise BundleError("the bundle's files do not match its signed manifest: altered")
    try:
        station_cert.verify_directly_issued_by(intermediate)
    except (ValueError, TypeError, InvalidSignature):
        raise BundleError("the station certificate was not issued by the fleet CA") from None
    if _common_name(station_cert) != manifest["station_id"]:
        raise BundleError("the certificate is for another station")
    now = dt.datetime.now(dt.UTC)
    in_force = station_cert.not_valid_before_utc <= now <= station_cert.not_valid_after_utc
    if check_validity and not in_force:
        raise BundleError("the station certificate is expired or not yet valid")
    return manifest


def signed_files(manifest: dict) -> list[str]:
    """The bundle's files enrolment may copy: those the manifest signs, and the manifest."""
    return [*sorted(manifest["files"]), MANIFEST, SIGNATURE]


def require_signed_bundle(config_path: Path, fleet_root: Path | None = None) -> dict:
    """Verify the bundle holding ``config_path`` (its directory); the manifest, or raise.

    The daemon calls it before anything else: a config that is not in a verifying bundle,
    including one whose manifest was deleted, never runs.
    """
    try:
        return verify_bundle(Path(config_path).parent, fleet_root)
    except BundleError as exc:
        raise BundleError(f"refusing to start: {exc}") from None
