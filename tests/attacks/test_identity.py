"""Attacker: someone holding one station's certificate and key (a stolen kiosk, its SD card
copied), or a technician's laptop used to mint a certificate with a server's name.

They try to: take over another station's or a server worker's MQTT session by connecting
with its client id (kicking it off and wiping its persistent session), read another
station's topics, and get a "station" certificate named like a server process
(``dcs-server``, ``dcs-ingest-1``) so the broker hands it the server's access.
"""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from contract.topics import is_valid_station_id
from provisioning.cli import main as provision
from provisioning.pki import CertificateAuthority, PkiError

PASSPHRASE = "correct horse battery staple"
SERVER_NAMES = ("dcs-server", "dcs-ingest-1", "dcs-kiosk-1", "dcs-replica-1", "dcs-broker")


@pytest.fixture(scope="module")
def ca(tmp_path_factory: pytest.TempPathFactory) -> CertificateAuthority:
    return CertificateAuthority.init(tmp_path_factory.mktemp("ca") / "ca", PASSPHRASE.encode())


@pytest.mark.parametrize("name", [*SERVER_NAMES, "dcs", "dcs-st-lobby"])
def test_a_server_identity_is_never_a_station_id(name):
    assert not is_valid_station_id(name)


@pytest.mark.parametrize("name", SERVER_NAMES)
def test_the_ca_refuses_a_station_certificate_with_a_server_name(ca, name):
    with pytest.raises(PkiError, match="refusing a station certificate"):
        ca.issue_station(name)
    assert all(entry["name"] != name for entry in ca._issued())


@pytest.mark.parametrize("name", ["dcs-server", "dcs-ingest-1", "DCS-SERVER", "x"])
def test_station_new_refuses_a_reserved_or_malformed_id(ca, tmp_path, name):
    args = ["station", "new", "--ca", str(ca.directory), "--station-id", name,
            "--broker-host", "broker.example", "--out", str(tmp_path / "bundle")]  # fmt: skip
    env = {"COLUMNS": "100", "DCS_CA_PASSPHRASE": PASSPHRASE}
    result = CliRunner().invoke(provision, args, env=env)
    assert result.exit_code == 2, result.output
    assert "--station-id" in result.output
    assert not (tmp_path / "bundle").exists()


def test_a_plain_station_id_is_still_issued(ca):
    _, cert = ca.issue_station("st-lobby-a")
    assert cert.subject.rfc4514_string().startswith("CN=st-lobby-a")
