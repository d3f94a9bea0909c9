"""``dcs-provision station``: new, enroll, rotate, replace, decommission, the on-site self-test.

enroll, rotate and decommission record the step on the central server through its API
(``--server-url`` and an API token), never through its database.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING

import click
from rich.console import Console
from rich.table import Table

from provisioning.cli.common import (
    ca_dir_option,
    connect,
    open_ca,
    passphrase_option,
    server_options,
)
from provisioning.server_api import (
    COMMAND_SCOPE,
    ENROL_SCOPE,
    CertificateFacts,
    ServerApi,
    ServerApiError,
)

if TYPE_CHECKING:
    from provisioning.bundle import StationPlan

technician_option = click.option(
    "--by", "technician", help="Who does it on site (default: the API token's name)."
)


@click.group()
def station() -> None:
    """One station."""


@station.command("selftest")
@click.option(
    "--config",
    "config_path",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    required=True,
)
@click.option("--root", type=click.Path(file_okay=False, path_type=Path), default=Path("/"))
@click.option("--development", is_flag=True, help="Allow development parts (the demo's vpcd).")
@click.option("--require-card", is_flag=True, help="A missing card fails the card check.")
@click.option("--server-timeout", default=10.0, show_default=True)
def selftest(
    config_path: Path, root: Path, development: bool, require_card: bool, server_timeout: float
) -> None:
    """Run before the daemon starts (it needs the devices and the station's broker identity)."""
    from device.config import load_config
    from device.errors import StationError
    from device.selftest import SelftestOptions, run_selftest
    from provisioning.harden import check_station

    try:
        config = load_config(config_path)
    except StationError as exc:
        raise click.ClickException(str(exc)) from None
    rows: list[tuple[str, str, str, str]] = []
    for result in run_selftest(config, SelftestOptions(require_card=require_card)):
        rows.append((result.device, result.check, result.outcome, result.detail))
    for check in check_station(config, root, production=not development):
        rows.append(("hardening", check.name, "ok" if check.ok else "fail", check.detail))
    rows.append(("server", "round trip", *_round_trip(config, server_timeout)))

    table = Table(title=f"station {config.station_id}: self-test")
    for column in ("part", "check", "result", "detail"):
        table.add_column(column, overflow="fold")
    styles = {"ok": "green", "fail": "red", "skip": "yellow", "warn": "yellow"}
    for part, name, outcome, detail in rows:
        table.add_row(part, name, f"[{styles.get(outcome, '')}]{outcome.upper()}", detail)
    Console().print(table)
    failed = [row for row in rows if row[2] == "fail"]
    if failed:
        raise click.ClickException(f"{len(failed)} check(s) failed")
    click.echo("self-test passed")


def _round_trip(config, timeout_s: float) -> tuple[str, str]:  # type: ignore[no-untyped-def]
    """A live lookup through the broker to the server and back (any answer proves the path)."""
    from device.errors import StationError
    from device.station import build_station

    probe = "1234567891020"  # a valid check digit, no such resident: "not found" is an answer
    try:
        with build_station(config) as station:
            station.start()
            started = time.monotonic()
            if not station.sync.link.wait_connected(timeout_s):
                return "fail", f"no connection to {config.broker.host}:{config.broker.port}"
            response = station.sync.lookups.insured_summary(probe, timeout_s=timeout_s)
            elapsed = (time.monotonic() - started) * 1000
    except (StationError, OSError) as exc:
        return "fail", f"{type(exc).__name__}: {exc}"
    return "ok", f"the server answered ({response.status}) in {elapsed:.0f} ms"


@station.command("new")
@ca_dir_option
@passphrase_option
@click.option("--station-id", required=True, help="Lowercase slug, e.g. st-lobby-a.")
@click.option("--broker-host", required=True)
@click.option("--broker-port", default=8883, show_default=True)
@click.option("--building", help="Replica scope: the building whose residents it serves.")
@click.option(
    "--replica-key",
    help="`dcs-server replica server-key`: the server key commands (and, with --building,"
    " replicas) are signed with; without it the station refuses every remote command.",
)
@click.option(
    "--release-key",
    help="`dcs-release keygen`'s public half: the only key software updates install from;"
    " without it the station refuses every release.",
)
@click.option("--language", type=click.Choice(["th", "vi", "en"]), default="th")
@click.option(
    "--kiosk-port", default=8080, show_default=True, help="The kiosk's loopback port (0: any)."
)
@click.option(
    "--hardware-file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="TOML with the station's [card] [printer] [gpio] [watchdog] sections (pin map).",
)
@click.option("--data-dir", default="/var/lib/dcs", show_default=True)
@click.option("--secrets-dir", default="/etc/dcs/bundle/secrets", show_default=True)
@click.option("--days", default=730, show_default=True, help="Certificate lifetime.")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path))
def new(
    ca_dir: Path,
    passphrase_file: Path | None,
    station_id: str,
    broker_host: str,
    broker_port: int,
    building: str | None,
    replica_key: str | None,
    release_key: str | None,
    language: str,
    kiosk_port: int,
    hardware_file: Path | None,
    data_dir: str,
    secrets_dir: str,
    days: int,
    out: Path | None,
) -> None:
    """A key pair, a certificate for the station id and its signed config bundle."""
    from contract.topics import is_valid_station_id
    from provisioning.bundle import StationPlan, build

    if not is_valid_station_id(station_id):
        raise click.BadParameter(
            "a lowercase slug of 3-32 characters, not starting with 'dcs-' (the server's names)",
            param_hint="--station-id",
        )
    authority = open_ca(ca_dir, passphrase_file)
    out = out or ca_dir / "stations" / station_id
    if (out / "manifest.json").exists():
        raise click.ClickException(f"{out} already holds a bundle; use `station rotate`")
    plan = StationPlan(
        station_id=station_id,
        broker_host=broker_host,
        broker_port=broker_port,
        data_dir=data_dir,
        secrets_dir=secrets_dir,
        building=building,
        replica_server_key=replica_key,
        release_public_key=release_key,
        language=language,
        kiosk_port=kiosk_port,
        hardware_toml=hardware_file.read_text() if hardware_file else "",
    )
    bundle = build(authority, plan, out, days=days)
    Console().print(f"bundle for {station_id} in {bundle} (signed by the fleet CA)")


@station.command("enroll")
@click.option(
    "--bundle", type=click.Path(exists=True, file_okay=False, path_type=Path), required=True
)
@click.option(
    "--target",
    type=click.Path(file_okay=False, path_type=Path),
    required=True,
    help="The mounted SD card's root (or a directory).",
)
@click.option(
    "--fleet-root",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    required=True,
    help="The fleet root certificate (the CA's root.crt.pem).",
)
@technician_option
@server_options
def enroll(
    bundle: Path,
    target: Path,
    fleet_root: Path,
    technician: str | None,
    server_url: str | None,
    token: str | None,
    server_ca: Path | None,
) -> None:
    """Verify the bundle, write it onto the target (idempotent), record who enrolled it.

    With the server: a blank card for a station id that already filed petitions is refused
    (its numbering would start again at 1 and collide); `station replace` is for that.
    """
    from device.bundle import BundleError, verify_bundle
    from provisioning.bundle import unsigned_files

    api = connect(server_url, token, server_ca, ENROL_SCOPE)
    try:
        manifest = verify_bundle(bundle, fleet_root)
    except BundleError as exc:
        raise click.ClickException(f"refused: {exc}") from None
    station_id = manifest["station_id"]
    if api is not None:
        _refuse_restarted_numbering(api, station_id, bundle, target)
    left_behind = unsigned_files(bundle, manifest)
    installed, changed = _install(bundle, target, fleet_root)
    console = Console()
    console.print(f"{station_id} {'enrolled' if changed else 'already enrolled'} in {installed}")
    if left_behind:
        console.print(f"not copied (not signed): {', '.join(left_behind)}", soft_wrap=True)
    if api is None:
        console.print("not recorded on the server (no --server-url)")
        return
    certificate = _certificate(installed)
    try:
        _, created = api.record_enrolment(station_id, certificate, technician)
    except ServerApiError as exc:
        raise click.ClickException(
            f"written on the card but not recorded on the server: {exc}; run it again"
        ) from None
    state = "recorded on the server" if created else "already on the server's record"
    console.print(f"enrolment of certificate {certificate.serial} {state}", soft_wrap=True)


def _install(bundle: Path, target: Path, fleet_root: Path) -> tuple[Path, bool]:
    """Copy the signed bundle and the fleet root onto the card (idempotent)."""
    import shutil

    from provisioning.bundle import enroll as install

    installed, changed = install(bundle, target)
    root_copy = Path(target) / "etc/dcs/fleet-root.crt.pem"
    if not root_copy.exists():
        shutil.copyfile(fleet_root, root_copy)
    return installed, changed


def _store_on_card(target: Path, data_dir: str) -> bool:
    """Whether the card already holds a station store (its counters live there)."""
    data = Path(data_dir)
    candidates = [Path(target) / data.relative_to(data.anchor)] if data.is_absolute() else []
    if data.is_absolute() and data.is_relative_to(Path(target)):
        candidates.append(data)  # a plan written for a card mounted where it is now
    return any((path / "store.sqlite3").exists() for path in candidates)


def _refuse_restarted_numbering(
    api: ServerApi, station_id: str, bundle: Path, target: Path
) -> None:
    """Stop a blank card whose numbering would restart below what the server already holds."""
    import tomllib

    config = tomllib.loads((bundle / "station.toml").read_text())
    floor = int(config.get("petition_floor", 0))
    try:
        highest = api.petition_serial(station_id)
    except ServerApiError as exc:
        raise click.ClickException(f"cannot check the station's numbering: {exc}") from None
    if highest > floor and not _store_on_card(target, str(config.get("data_dir", ""))):
        raise click.ClickException(
            f"refused: the server already holds petitions of {station_id} up to serial "
            f"{highest}, and this blank card would number from {floor + 1} again (they would "
            f"be refused as duplicates). Replacing the station's card? Use `dcs-provision "
            f"station replace --station-id {station_id}`."
        )


def _signed_plan(bundle: Path, fleet_root: Path) -> StationPlan:
    """The bundle's plan, once the bundle verifies against ``fleet_root`` (expiry aside)."""
    import json

    from device.bundle import BundleError, verify_bundle
    from provisioning.bundle import StationPlan

    try:
        manifest = verify_bundle(bundle, fleet_root, check_validity=False)
    except BundleError as exc:
        raise click.ClickException(f"refused: {exc}") from None
    try:
        plan = StationPlan(**json.loads((bundle / "plan.json").read_text()))
    except (OSError, TypeError, ValueError) as exc:
        raise click.ClickException(f"not a bundle made by `station new`: {exc}") from None
    if plan.station_id != manifest["station_id"] or "plan.json" not in manifest["files"]:
        raise click.ClickException("refused: plan.json is not the signed plan of this bundle")
    return plan


def _certificate(bundle: Path) -> CertificateFacts:
    from cryptography import x509

    pem = (bundle / "secrets/station.crt.pem").read_bytes()
    return CertificateFacts.of(x509.load_pem_x509_certificate(pem))


@station.command("rotate")
@ca_dir_option
@passphrase_option
@click.option(
    "--bundle", type=click.Path(exists=True, file_okay=False, path_type=Path), required=True
)
@click.option("--days", default=730, show_default=True)
@technician_option
@server_options
def rotate(
    ca_dir: Path,
    passphrase_file: Path | None,
    bundle: Path,
    days: int,
    technician: str | None,
    server_url: str | None,
    token: str | None,
    server_ca: Path | None,
) -> None:
    """A new key and certificate for the same station id, the bundle re-signed (then enroll).

    The bundle is verified first against this CA's root (an expired certificate is fine:
    that is what rotation is for): a plan edited after signing is never issued from.
    """
    from provisioning.bundle import build

    api = connect(server_url, token, server_ca, ENROL_SCOPE)
    authority = open_ca(ca_dir, passphrase_file)
    plan = _signed_plan(bundle, ca_dir / "root.crt.pem")
    build(authority, plan, bundle, days=days)
    console = Console()
    console.print(f"{plan.station_id}: new certificate, bundle re-signed; enroll it again")
    if api is None:
        return
    certificate = _certificate(bundle)
    try:
        _, created = api.record_rotation(plan.station_id, certificate, technician)
    except ServerApiError as exc:
        raise click.ClickException(f"the rotation is not recorded on the server: {exc}") from None
    state = "recorded on the server" if created else "already on the server's record"
    console.print(f"rotation to certificate {certificate.serial} {state}", soft_wrap=True)


@station.command("replace")
@ca_dir_option
@passphrase_option
@click.option("--station-id", required=True, help="The station whose SD card is replaced.")
@click.option(
    "--bundle",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    help="Its bundle (default: the CA's stations/<id>).",
)
@click.option(
    "--target",
    type=click.Path(file_okay=False, path_type=Path),
    required=True,
    help="The new card's root (mounted), or a directory.",
)
@click.option("--days", default=730, show_default=True, help="The new certificate's lifetime.")
@technician_option
@server_options
def replace(
    ca_dir: Path,
    passphrase_file: Path | None,
    station_id: str,
    bundle: Path | None,
    target: Path,
    days: int,
    technician: str | None,
    server_url: str | None,
    token: str | None,
    server_ca: Path | None,
) -> None:
    """A new SD card for a station in service: its petition numbering continues.

    Asks the server for the highest petition serial it applied from the station, writes it
    into the bundle as ``petition_floor`` with a new key and certificate (the old card's key
    is gone with it), re-signs, installs onto the card and records the replacement. The floor
    is in the signed bundle, so the card numbers correctly from its first petition, even
    before it ever reaches the network.
    """
    import dataclasses

    from contract.identifiers import PETITION_SERIAL_MAX, petition_number
    from provisioning.bundle import build

    api = connect(server_url, token, server_ca, ENROL_SCOPE)
    if api is None:
        raise click.UsageError(
            "a replacement needs the server (--server-url and --token): only it knows the "
            "highest petition number the station filed"
        )
    authority = open_ca(ca_dir, passphrase_file)
    bundle = bundle or ca_dir / "stations" / station_id
    if not (bundle / "plan.json").exists():
        raise click.ClickException(f"no bundle of {station_id} in {bundle}: pass --bundle")
    plan = _signed_plan(bundle, ca_dir / "root.crt.pem")
    if plan.station_id != station_id:
        raise click.ClickException(f"refused: {bundle} is the bundle of {plan.station_id}")
    try:
        highest = api.petition_serial(station_id)
    except ServerApiError as exc:
        raise click.ClickException(f"cannot read the station's numbering: {exc}") from None
    if highest >= PETITION_SERIAL_MAX:
        raise click.ClickException(
            f"{station_id} has used every petition number; give the new card a new station id"
        )
    plan = dataclasses.replace(plan, petition_floor=max(plan.petition_floor, highest))
    build(authority, plan, bundle, days=days)
    installed, _ = _install(bundle, target, ca_dir / "root.crt.pem")
    console = Console()
    following = petition_number(station_id, plan.petition_floor + 1)
    console.print(
        f"{station_id}: replacement card in {installed}; its next petition is {following}",
        soft_wrap=True,
    )
    certificate = _certificate(installed)
    try:
        _, created = api.record_replacement(station_id, certificate, technician)
    except ServerApiError as exc:
        raise click.ClickException(
            f"written on the card but not recorded on the server: {exc}; run it again"
        ) from None
    state = "recorded on the server" if created else "already on the server's record"
    console.print(f"replacement with certificate {certificate.serial} {state}", soft_wrap=True)


@station.command("decommission")
@ca_dir_option
@passphrase_option
@click.option("--station-id", required=True)
@click.option(
    "--on-site",
    "target",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    help="Also wipe the mounted station's bundle and data here.",
)
@technician_option
@server_options
def decommission(
    ca_dir: Path,
    passphrase_file: Path | None,
    station_id: str,
    target: Path | None,
    technician: str | None,
    server_url: str | None,
    token: str | None,
    server_ca: Path | None,
) -> None:
    """Revoke its certificate, republish the CRL, wipe its replica (remotely or on site)."""
    import shutil

    from provisioning.pki import PkiError

    # The token is checked before the revocation, which cannot be undone or repeated.
    api = connect(server_url, token, server_ca, ENROL_SCOPE, COMMAND_SCOPE)
    authority = open_ca(ca_dir, passphrase_file)
    try:
        serials = authority.revoke(station_id)
    except PkiError as exc:
        raise click.ClickException(str(exc)) from None
    console = Console()
    console.print(
        f"revoked {', '.join(serials)}; CRL republished: {ca_dir / 'crl.pem'}", soft_wrap=True
    )
    console.print("copy it to the broker and reload Mosquitto (SIGHUP) to refuse the station now")
    failure = None
    if api is not None:
        failure = _decommission_on_server(api, station_id, serials, technician, console)
    if target is not None:
        for part in ("etc/dcs/bundle", "var/lib/dcs"):
            shutil.rmtree(target / part, ignore_errors=True)
        console.print(f"wiped the bundle and data under {target}")
    if failure:
        raise click.ClickException(failure)


def _decommission_on_server(
    api: ServerApi, station_id: str, serials: list[str], technician: str | None, console: Console
) -> str | None:
    """Record it and queue the remote wipe; what went wrong, if anything."""
    try:
        outcome = api.decommission(station_id, serials, technician)
    except ServerApiError as exc:
        return (
            f"revoked at the CA but not recorded on the server: {exc}; "
            "send wipe_replica from the dashboard"
        )
    marked = len(outcome["decommissioned"])
    console.print(f"the server marked {marked} certificate(s) decommissioned")
    if outcome["unknown_serials"]:
        console.print(f"never recorded there: {', '.join(outcome['unknown_serials'])}")
    console.print(outcome["message"], soft_wrap=True)
    if outcome["wipe_outcome"] == "not_sent":
        return "the remote wipe was not sent; send wipe_replica from the dashboard"
    return None
