"""Attacker: someone with the station's SD card in hand (a stolen or serviced kiosk) or
write access to a bundle directory on the technician's laptop.

They try to: run the daemon from a config they edited, after deleting ``manifest.json`` so
the signature check is skipped; get the CA to issue a certificate from a ``plan.json`` they
edited (another station's id) through ``station rotate``; and plant a key of their choosing
(``secrets/store.key``, which the manifest does not sign) for enrolment to copy to a card.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from provisioning.bundle import StationPlan, build, enroll
from provisioning.cli import main as provision
from provisioning.pki import CertificateAuthority

PASSPHRASE = "correct horse battery staple"
DAEMON = str(Path(sys.executable).with_name("dcs-station"))


@pytest.fixture
def ca(tmp_path) -> CertificateAuthority:
    return CertificateAuthority.init(tmp_path / "ca", PASSPHRASE.encode())


@pytest.fixture
def bundle(ca, tmp_path) -> Path:
    target = tmp_path / "sd"
    plan = StationPlan(
        station_id="st-a",
        broker_host="127.0.0.1",
        broker_port=1,  # never reached: every refusal comes before the broker
        data_dir=str(target / "var/lib/dcs"),
        secrets_dir=str(target / "etc/dcs/bundle/secrets"),
    )
    return build(ca, plan, ca.directory / "stations/st-a", days=365)


def rotate(ca: CertificateAuthority, bundle: Path):  # type: ignore[no-untyped-def]
    return CliRunner().invoke(
        provision,
        ["station", "rotate", "--ca", str(ca.directory), "--bundle", str(bundle)],
        env={"COLUMNS": "200", "DCS_CA_PASSPHRASE": PASSPHRASE},
    )


def test_deleting_the_manifest_does_not_skip_the_check(ca, bundle, tmp_path):
    installed, _ = enroll(bundle, tmp_path / "sd")
    config = installed / "station.toml"
    config.write_text(config.read_text().replace("127.0.0.1", "broker.attacker.example"))
    (installed / "manifest.json").unlink()
    refused = subprocess.run(
        [DAEMON, "run", "--config", str(config)],
        env={"DCS_FLEET_ROOT": str(ca.directory / "root.crt.pem"), "COLUMNS": "300"},
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert refused.returncode == 1, refused.stderr
    message = " ".join(refused.stderr.split())
    assert "refusing to start" in message
    assert f"{installed / 'manifest.json'} is missing" in message


def test_rotate_refuses_a_bundle_whose_plan_was_edited(ca, bundle):
    plan = json.loads((bundle / "plan.json").read_text())
    plan["station_id"] = "st-b"  # a certificate for another station, from a copied bundle
    (bundle / "plan.json").write_text(json.dumps(plan))
    issued_before = (ca.directory / "issued.json").read_text()
    result = rotate(ca, bundle)
    assert result.exit_code == 1, result.output
    assert "refused" in result.output and "altered" in result.output
    assert (ca.directory / "issued.json").read_text() == issued_before  # nothing issued


def test_rotate_refuses_a_bundle_without_its_manifest(ca, bundle):
    (bundle / "manifest.json").unlink()
    result = rotate(ca, bundle)
    assert result.exit_code == 1 and "manifest.json is missing" in result.output


def test_rotate_still_renews_an_untouched_bundle(ca, bundle):
    before = (bundle / "secrets/station.crt.pem").read_bytes()
    assert rotate(ca, bundle).exit_code == 0
    assert (bundle / "secrets/station.crt.pem").read_bytes() != before


def test_enrolment_copies_only_signed_files(ca, bundle, tmp_path):
    planted = b"\x00" * 32  # a store key the attacker knows
    (bundle / "secrets/store.key").write_bytes(planted)
    (bundle / "data").mkdir()
    (bundle / "data/outbox.sqlite3").write_bytes(b"forged petitions")
    fleet_root = ca.directory / "root.crt.pem"
    args = ["station", "enroll", "--bundle", str(bundle), "--target", str(tmp_path / "sd"),
            "--fleet-root", str(fleet_root)]  # fmt: skip
    result = CliRunner().invoke(provision, args, env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert "not copied (not signed): data/outbox.sqlite3, secrets/store.key" in result.output
    installed = tmp_path / "sd/etc/dcs/bundle"
    assert (installed / "secrets/store.key").read_bytes() != planted  # made on the card
    assert not (installed / "data").exists()
    assert (installed / "station.toml").exists() and (installed / "manifest.sig").exists()
