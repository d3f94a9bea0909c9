"""dcs-provision and the central server's API: the token's scopes, wrong addresses, TLS.

Every refusal is a clear message and exit code 1 (2 for a usage error), never a traceback,
never the token, and it comes before the command changes anything on the card or at the CA.
"""

from __future__ import annotations

import json
import ssl
from datetime import UTC, datetime
from pathlib import Path

import pytest
from click.testing import CliRunner

from devtools.net import free_port
from provisioning.cli import main as provision
from provisioning.pki import CertificateAuthority, write_key_and_cert
from provisioning.server_api import CertificateFacts, ServerApi, ServerApiError
from sync_server import create_app
from sync_server.db import database
from sync_server.fleet.enrollments import history
from tests.api_tokens import PROVISIONING_SCOPES, api_token
from tests.web_browser import serving

PASSPHRASE = "correct horse battery staple"
ENV = {"COLUMNS": "200", "DCS_CA_PASSPHRASE": PASSPHRASE}
HINT = "dcs-server api-token create --name provisioning --scope stations:enroll"


def invoke(*args: str, env: dict[str, str] | None = None):  # type: ignore[no-untyped-def]
    return CliRunner().invoke(provision, list(args), env={**ENV, **(env or {})})


@pytest.fixture
def app(sqlite_url):
    app = create_app(
        {"TESTING": True, "SECRET_KEY": "provision-server", "DATABASE_URL": sqlite_url}
    )
    yield app
    database.close()


@pytest.fixture
def server(app):
    with serving(app) as url:
        yield url


@pytest.fixture
def fleet(tmp_path) -> Path:
    """A CA with one station's bundle in ``stations/st-lobby-q``."""
    ca_dir = tmp_path / "ca"
    assert invoke("ca", "init", "--ca", str(ca_dir)).exit_code == 0
    made = invoke("station", "new", "--ca", str(ca_dir), "--station-id", "st-lobby-q",
                  "--broker-host", "broker.example")  # fmt: skip
    assert made.exit_code == 0, made.output
    return ca_dir


def enroll_args(ca_dir: Path, target: Path) -> list[str]:
    return ["station", "enroll", "--bundle", str(ca_dir / "stations/st-lobby-q"),
            "--target", str(target), "--fleet-root", str(ca_dir / "root.crt.pem")]  # fmt: skip


def live_serials(ca_dir: Path) -> list[str]:
    issued = json.loads((ca_dir / "issued.json").read_text())
    return [e["serial"] for e in issued if e["name"] == "st-lobby-q" and not e["revoked_at"]]


def test_a_token_without_the_scope_stops_the_command_before_it_changes_anything(
    server, fleet, tmp_path
):
    reader = api_token("dashboards", "stations:read")
    card = tmp_path / "sd"
    refused = invoke(*enroll_args(fleet, card), "--server-url", server, "--token", reader)
    assert refused.exit_code == 1
    assert "'dashboards' lacks the scope stations:enroll" in refused.output
    assert HINT in refused.output
    assert not (card / "etc/dcs/bundle").exists()

    enroller = api_token("enrol-only", "stations:enroll")
    kept = invoke("station", "decommission", "--ca", str(fleet), "--station-id", "st-lobby-q",
                  env={"DCS_SERVER_URL": server, "DCS_API_TOKEN": enroller})  # fmt: skip
    assert kept.exit_code == 1 and "lacks the scope stations:command" in kept.output
    assert live_serials(fleet)  # nothing was revoked
    for result, token in ((refused, reader), (kept, enroller)):
        assert token not in result.output and "Traceback" not in result.output


def test_the_servers_403_reaches_the_technician_as_a_clear_message(server):
    reader = ServerApi(server, api_token("dashboards", "stations:read"))
    facts = CertificateFacts(
        serial="a1", sha256="a" * 64, not_after=datetime(2030, 1, 1, tzinfo=UTC)
    )
    with pytest.raises(ServerApiError) as refused:
        reader.record_enrolment("st-lobby-q", facts, "somchai")
    message = str(refused.value)
    assert "the server refused: the API token lacks the scope stations:enroll" in message
    assert HINT in message and reader.token not in message
    assert reader.token not in repr(reader)


def test_an_unknown_token_is_refused_clearly(server, fleet, tmp_path):
    result = invoke(*enroll_args(fleet, tmp_path / "sd"),
                    env={"DCS_SERVER_URL": server, "DCS_API_TOKEN": "dcs_forged"})  # fmt: skip
    assert result.exit_code == 1
    assert "the server refused the API token (the API token is unknown or revoked)" in result.output
    assert "dcs_forged" not in result.output


def test_a_wrong_server_url_is_a_clear_error(server, fleet, tmp_path):
    token = api_token("field-laptop-1", *PROVISIONING_SCOPES)
    args = enroll_args(fleet, tmp_path / "sd")
    nobody = f"http://127.0.0.1:{free_port()}"
    refused = invoke(*args, "--server-url", nobody, "--token", token)
    assert refused.exit_code == 1
    assert f"cannot reach the server at {nobody}: connection refused" in refused.output
    elsewhere = invoke(*args, "--server-url", f"{server}/intranet", "--token", token)
    assert elsewhere.exit_code == 1 and "is it the DCS server's URL?" in elsewhere.output
    not_http = invoke(*args, "--server-url", "ftp://dcs.example.org", "--token", token)
    assert not_http.exit_code == 1 and "must be http(s)://host[:port]" in not_http.output
    no_token = invoke(*args, "--server-url", server)
    assert no_token.exit_code == 2 and "--server-url needs --token" in no_token.output
    for result in (refused, elsewhere, not_http):
        assert token not in result.output and "Traceback" not in result.output
    assert not (tmp_path / "sd/etc/dcs/bundle").exists()


def test_without_a_server_the_card_is_written_and_nothing_recorded(app, fleet, tmp_path):
    result = invoke(*enroll_args(fleet, tmp_path / "sd"))
    assert result.exit_code == 0 and "not recorded on the server" in result.output
    with database.connection_context():
        assert history("st-lobby-q") == []


def test_an_https_server_is_verified_with_the_ca_file_given(app, fleet, tmp_path):
    authority = CertificateAuthority.open(fleet, PASSPHRASE.encode())
    key, cert = authority.issue("dcs-server-web", kind="server", hosts=("127.0.0.1",))
    key_path, cert_path = write_key_and_cert(tmp_path / "web", "web", key, cert)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert_path, key_path)
    chain = tmp_path / "fleet-chain.pem"
    chain.write_bytes(authority.chain_pem())
    token = api_token("field-laptop-1", *PROVISIONING_SCOPES)
    args = enroll_args(fleet, tmp_path / "sd")
    with serving(app, ssl_context=context) as url:
        unverified = invoke(*args, "--server-url", url, "--token", token)
        assert unverified.exit_code == 1
        assert "cannot verify the server's certificate" in unverified.output
        assert "--server-ca" in unverified.output
        verified = invoke(*args, "--server-url", url, "--token", token, "--server-ca", str(chain))
        assert verified.exit_code == 0, verified.output
        assert "recorded on the server" in verified.output
        plain = invoke(*args, "--server-url", url.replace("https", "http"), "--token", token,
                       "--server-ca", str(chain))  # fmt: skip
        assert plain.exit_code == 1 and "only for an https server URL" in plain.output
    with database.connection_context():
        (entry,) = history("st-lobby-q")
        assert entry.enrolled_by == "field-laptop-1"
