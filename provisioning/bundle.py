"""Build, sign and enrol a station's config bundle (see device/bundle.py for the check)."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import shutil
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec

from device.bundle import MANIFEST, SIGNATURE, file_digests, signed_files
from device.store import create_key_file
from provisioning.pki import CertificateAuthority, write_key_and_cert


@dataclass(frozen=True)
class StationPlan:
    """What ``station new`` puts in a station's config."""

    station_id: str
    broker_host: str
    broker_port: int
    data_dir: str = "/var/lib/dcs"
    secrets_dir: str = "/etc/dcs/bundle/secrets"
    building: str | None = None
    #: ``dcs-server replica server-key``: signs replica parts and remote commands.
    replica_server_key: str | None = None
    language: str = "th"
    kiosk_port: int = 8080
    tracking_url: str = "https://dcs.example.invalid/track?number={number}"
    hardware_toml: str = ""  # the pin map and devices, verbatim ([card], [printer], [gpio]...)
    reboot_command: tuple[str, ...] | None = None  # None: the daemon's default (systemctl)
    #: ``dcs-release keygen``'s public half: the only key the station installs software from.
    release_public_key: str | None = None
    #: A replacement card's numbering starts above this (the server's highest serial applied
    #: from the station id when `station replace` ran); 0 for a new station.
    petition_floor: int = 0


def station_toml(plan: StationPlan) -> str:
    """The station's config file."""
    lines = [
        f'station_id = "{plan.station_id}"',
        f'data_dir = "{plan.data_dir}"',
        f'secrets_dir = "{plan.secrets_dir}"',
        f'tracking_url = "{plan.tracking_url}"',
    ]
    if plan.replica_server_key:
        # Remote commands run only if signed with this key: without it the station refuses
        # them all, with or without a replica.
        lines.append(f'server_public_key = "{plan.replica_server_key}"')
    if plan.release_public_key:
        # Software updates install only if signed with this key; without it, none does.
        lines.append(f'release_public_key = "{plan.release_public_key}"')
    if plan.reboot_command:
        lines.append("reboot_command = " + json.dumps(list(plan.reboot_command)))
    if plan.petition_floor:
        lines.append(f"petition_floor = {int(plan.petition_floor)}")
    lines += [
        "",
        "[broker]",
        f'host = "{plan.broker_host}"',
        f"port = {plan.broker_port}",
        'ca_file = "chain.pem"',
        'cert_file = "station.crt.pem"',
        'key_file = "station.key.pem"',
        "",
        "[kiosk]",
        'host = "127.0.0.1"',
        f"port = {plan.kiosk_port}",
        f'default_language = "{plan.language}"',
    ]
    if plan.building and plan.replica_server_key:
        lines += [
            "",
            "[replica]",
            f'building = "{plan.building}"',
            f'server_public_key = "{plan.replica_server_key}"',
        ]
    text = "\n".join(lines) + "\n"
    if plan.hardware_toml.strip():
        text += "\n" + plan.hardware_toml.strip() + "\n"
    return text


def sign(bundle: Path, ca: CertificateAuthority, station_id: str) -> None:
    """Write the manifest of every file and its signature by the issuing CA."""
    manifest = {
        "station_id": station_id,
        "created_at": dt.datetime.now(dt.UTC).isoformat(),
        "issuer": ca.intermediate.subject.rfc4514_string(),
        "files": file_digests(bundle),
    }
    data = json.dumps(manifest, indent=1, sort_keys=True).encode()
    (bundle / MANIFEST).write_bytes(data)
    (bundle / SIGNATURE).write_bytes(ca.intermediate_key.sign(data, ec.ECDSA(hashes.SHA256())))


def build(ca: CertificateAuthority, plan: StationPlan, out: Path, days: int) -> Path:
    """A fresh key and certificate for the station, its config, signed: the bundle dir."""
    bundle = Path(out)
    secrets = bundle / "secrets"
    secrets.mkdir(parents=True, exist_ok=True)
    bundle.chmod(0o700)
    secrets.chmod(0o700)
    key, cert = ca.issue_station(plan.station_id, days=days)
    write_key_and_cert(secrets, "station", key, cert)
    (secrets / "chain.pem").write_bytes(ca.chain_pem())
    (bundle / "station.toml").write_text(station_toml(plan))
    # What `station rotate` rebuilds from; signed with the rest (nothing secret in it).
    (bundle / "plan.json").write_text(json.dumps(dataclasses.asdict(plan), indent=1))
    sign(bundle, ca, plan.station_id)
    return bundle


def unsigned_files(bundle: Path, manifest: dict) -> list[str]:
    """Files in ``bundle`` its manifest does not sign: enrolment leaves them behind."""
    signed = set(signed_files(manifest))
    present = (p.relative_to(bundle).as_posix() for p in Path(bundle).rglob("*") if p.is_file())
    return sorted(name for name in present if name not in signed)


def enroll(bundle: Path, target: Path) -> tuple[Path, bool]:
    """Copy the bundle's signed files to ``target/etc/dcs/bundle`` (idempotent).

    Only what the manifest signs is copied: a ``secrets/store.key`` (or anything else) put in
    the bundle directory after signing stays behind, so nobody chooses a station's keys. The
    store key is made on the card if missing and never leaves it. Verify the bundle first
    (``device.bundle.verify_bundle``). Returns the installed directory and whether anything
    changed.
    """
    installed = Path(target) / "etc/dcs/bundle"
    manifest = json.loads((Path(bundle) / MANIFEST).read_text())
    changed = False
    for relative in signed_files(manifest):
        source = Path(bundle) / relative
        destination = installed / relative
        if destination.exists() and destination.read_bytes() == source.read_bytes():
            continue
        destination.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, destination)
        changed = True
    for directory in (installed, installed / "secrets"):
        directory.chmod(0o700)
    for path in (installed / "secrets").iterdir():
        path.chmod(0o600)
    store_key = installed / "secrets" / "store.key"
    if not store_key.exists():
        create_key_file(store_key)
        changed = True
    return installed, changed
