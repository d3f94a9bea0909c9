"""dcs-provision: systemd units, hardening, the station self-test, the watchdog flasher."""

from __future__ import annotations

import ast
import configparser
import json
import subprocess
from pathlib import Path

import pytest
from click.testing import CliRunner

from provisioning.cli import main as provision
from provisioning.cli.watchdog import FIRMWARE_DIR, flash_commands
from provisioning.harden import VPCD_DRIVER
from provisioning.units import enable_commands
from tests.conftest import station_config
from tests.test_crash import write_station_toml

REPO = Path(__file__).resolve().parent.parent
#: Packages the technician's tool must never import: it talks to the server over its API.
SERVER_PACKAGES = ("sync_server",)


def invoke(*args: str):  # type: ignore[no-untyped-def]
    return CliRunner().invoke(provision, list(args), env={"COLUMNS": "100"})


def unit(path: Path) -> configparser.ConfigParser:
    parser = configparser.ConfigParser(strict=False, interpolation=None)
    parser.optionxform = str  # systemd keys are case-sensitive
    parser.read(path)
    return parser


def test_station_units_notify_watchdog_and_kiosk_browser(tmp_path):
    result = invoke("units", "install", "--role", "station", "--root", str(tmp_path),
                    "--prefix", str(REPO))  # fmt: skip
    assert result.exit_code == 0, result.output
    units = tmp_path / "etc/systemd/system"
    daemon = unit(units / "dcs-station.service")["Service"]
    assert daemon["Type"] == "notify" and daemon["WatchdogSec"] == "60"
    assert daemon["Restart"] == "always" and daemon["User"] == "dcs"
    assert daemon["ExecStart"].endswith("dcs-station run --config /etc/dcs/bundle/station.toml")
    assert daemon["NoNewPrivileges"] == "yes" and daemon["ProtectSystem"] == "strict"
    browser = unit(units / "dcs-kiosk-browser.service")
    assert browser["Unit"]["Requires"] == "dcs-station.service"
    assert "dcs-station browser" in browser["Service"]["ExecStart"]
    assert "--compositor cage" in browser["Service"]["ExecStart"]
    assert "http://127.0.0.1:8080/" in browser["Service"]["ExecStart"]
    assert browser["Service"]["TTYPath"] == "/dev/tty7"
    policy = json.loads((tmp_path / "etc/chromium/policies/managed/dcs-kiosk.json").read_text())
    assert policy["URLBlocklist"] == ["*"]
    assert policy["URLAllowlist"] == ["http://127.0.0.1:8080"]
    assert policy["DeveloperToolsAvailability"] == 2
    assert "systemctl enable --now dcs-station.service" in result.output
    again = invoke("units", "install", "--role", "station", "--root", str(tmp_path),
                   "--prefix", str(REPO))  # fmt: skip
    assert again.exit_code == 0  # idempotent


def test_server_units_run_gunicorn_and_each_worker(tmp_path):
    assert invoke("units", "install", "--role", "server", "--root", str(tmp_path),
                  "--prefix", str(REPO)).exit_code == 0  # fmt: skip
    units = tmp_path / "etc/systemd/system"
    names = sorted(p.name for p in units.iterdir() if p.is_file())
    assert names == [
        "dcs-alarms.service",
        "dcs-crl-refresh.service",
        "dcs-crl-refresh.timer",
        "dcs-db-upgrade.service",
        "dcs-ingest@.service",
        "dcs-kiosk-services.service",
        "dcs-lookup@.service",
        "dcs-notify.service",
        "dcs-operator-sweep.service",
        "dcs-replicate.service",
        "dcs-sms.service",
        "dcs-web.service",
    ]
    ingest = unit(units / "dcs-ingest@.service")
    assert ingest["Service"]["ExecStart"].endswith("dcs-server ingest --worker-id %i --no-lookups")
    assert ingest["Service"]["Nice"] == "10"  # batch work: behind the broker and lookups
    assert ingest["Service"]["CPUWeight"] == "10"  # the same where each service is a cgroup
    # The broker ahead of everything: one thread serves every station (docs/scale.md).
    broker = unit(units / "mosquitto.service.d/dcs-priority.conf")["Service"]
    assert (broker["Nice"], broker["CPUWeight"]) == ("-10", "1000")
    assert [p.name for p in units.iterdir() if p.is_dir()] == ["mosquitto.service.d"]
    [enable] = enable_commands("server")
    assert not [name for name in enable if "mosquitto" in name]  # a drop-in is not enabled
    # Its lookups in a process of their own, started with it (an upgraded server too).
    assert "dcs-lookup@%i.service" in ingest["Unit"]["Wants"].split()
    lookup = unit(units / "dcs-lookup@.service")["Service"]
    assert lookup["ExecStart"].endswith("dcs-server lookup --worker-id %i")
    assert "Nice" not in lookup
    web = unit(units / "dcs-web.service")["Service"]
    assert "gunicorn -c" in web["ExecStart"]
    assert web["Environment"] == "DCS_SERVER_CONFIG=/etc/dcs/server.toml"
    upgrade = unit(units / "dcs-db-upgrade.service")
    assert upgrade["Service"]["Type"] == "oneshot"
    assert upgrade["Service"]["ExecStart"].endswith("dcs-server db upgrade")
    # Every server process migrates first and stays down when the migration fails.
    for name in names:
        if name not in (
            "dcs-db-upgrade.service",
            "dcs-crl-refresh.service",
            "dcs-crl-refresh.timer",
        ):
            head = unit(units / name)["Unit"]
            assert head["Requires"] == "dcs-db-upgrade.service", name
            assert "dcs-db-upgrade.service" in head["After"].split(), name


def test_server_units_refresh_the_crl_daily_well_before_it_lapses(tmp_path):
    assert invoke("units", "install", "--role", "server", "--root", str(tmp_path),
                  "--prefix", str(REPO), "--broker-dir", "/srv/broker").exit_code == 0  # fmt: skip
    units = tmp_path / "etc/systemd/system"
    timer = unit(units / "dcs-crl-refresh.timer")
    assert timer["Timer"]["OnCalendar"] == "daily"  # a 30-day CRL: 29 chances before it lapses
    assert timer["Timer"]["Persistent"] == "true"  # a day missed while off runs at boot
    assert timer["Install"]["WantedBy"] == "timers.target"
    service = unit(units / "dcs-crl-refresh.service")["Service"]
    assert service["Type"] == "oneshot"
    command = service["ExecStart"]
    assert "dcs-provision ca crl refresh --ca /etc/dcs/ca" in command
    assert "--broker-dir /srv/broker" in command
    assert "systemctl reload mosquitto.service" in command
    # The passphrase arrives as a credential, never in the command line or environment.
    assert service["LoadCredential"] == "ca-passphrase:/etc/dcs/ca-passphrase"
    assert "${CREDENTIALS_DIRECTORY}/ca-passphrase" in command
    enable = invoke("units", "install", "--role", "server", "--root", str(tmp_path),
                    "--prefix", str(REPO)).output  # fmt: skip
    assert (
        "dcs-crl-refresh.timer" in enable
        and "dcs-crl-refresh.service" not in enable.split("then:")[-1]
    )


def test_systemd_accepts_every_unit(tmp_path):
    # A prefix laid out as on a machine: the server's virtualenv, the station's release.
    prefix = tmp_path / "opt"
    (prefix / "current").mkdir(parents=True)
    (prefix / ".venv").symlink_to(REPO / ".venv")
    (prefix / "current" / "venv").symlink_to(REPO / ".venv")
    for role in ("station", "server"):
        assert invoke("units", "install", "--role", role, "--root", str(tmp_path),
                      "--prefix", str(prefix)).exit_code == 0  # fmt: skip
    files = [
        str(p)
        for p in (tmp_path / "etc/systemd/system").iterdir()
        if "@" not in p.name and p.is_file()  # not the broker's drop-in directory
    ]
    checked = subprocess.run(
        ["systemd-analyze", "verify", *files], capture_output=True, text=True, timeout=60
    )
    # verify exits 0 on many problems but names each one: nothing may be said.
    complaints = [line for line in checked.stderr.splitlines() if "dcs-" in line]
    assert complaints == []


def test_harden_writes_a_firewall_nft_accepts_and_ssh_keys_only(tmp_path):
    result = invoke("harden", "--root", str(tmp_path), "--broker-port", "8883")
    assert result.exit_code == 0, result.output
    policy = tmp_path / "etc/nftables.d/dcs-station.nft"
    text = policy.read_text()
    assert "policy drop" in text and "tcp dport 8883 accept" in text
    assert "tcp dport 22 ct state new" in text and "tcp dport 1883" not in text
    checked = subprocess.run(["nft", "-c", "-f", str(policy)], capture_output=True, text=True)
    assert checked.returncode == 0, checked.stderr
    sshd = (tmp_path / "etc/ssh/sshd_config.d/dcs-station.conf").read_text()
    assert "PasswordAuthentication no" in sshd and "PermitRootLogin no" in sshd


def test_station_selftest_table_hardening_and_server_round_trip(
    tmp_path, broker, server_app, ingest
):
    config = station_config(tmp_path, broker)
    toml = write_station_toml(tmp_path / "station.toml", config)
    secrets = Path(config.secrets_dir)
    secrets.chmod(0o755)
    (secrets / "station.key.pem").chmod(0o644)

    loose = invoke("station", "selftest", "--config", str(toml), "--root", str(tmp_path))
    assert loose.exit_code == 1
    assert "secrets directory" in loose.output and "mode 755" in loose.output
    assert "2 check(s) failed" in loose.output

    secrets.chmod(0o700)
    (secrets / "station.key.pem").chmod(0o600)
    good = invoke("station", "selftest", "--config", str(toml), "--root", str(tmp_path))
    assert good.exit_code == 0, good.output
    assert "round trip" in good.output and "the server answered (not_found)" in good.output
    assert "self-test passed" in good.output

    (tmp_path / VPCD_DRIVER).parent.mkdir(parents=True)
    (tmp_path / VPCD_DRIVER).write_bytes(b"")
    production = invoke("station", "selftest", "--config", str(toml), "--root", str(tmp_path))
    assert production.exit_code == 1 and "vsmartcard-vpcd is installed" in production.output
    development = invoke(
        "station", "selftest", "--config", str(toml), "--root", str(tmp_path), "--development"
    )
    assert development.exit_code == 0


def test_station_selftest_says_when_the_server_is_unreachable(tmp_path, broker):
    config = station_config(tmp_path, broker)
    toml = write_station_toml(tmp_path / "station.toml", config)
    Path(config.secrets_dir).chmod(0o700)
    broker.stop()
    result = invoke(
        "station", "selftest", "--config", str(toml), "--root", str(tmp_path),
        "--server-timeout", "1",
    )  # fmt: skip
    assert result.exit_code == 1 and "no connection to 127.0.0.1" in result.output


def test_watchdog_flash_copies_the_firmware_with_mpremote(tmp_path):
    commands = flash_commands("/dev/ttyACM0", "mpremote")
    assert commands[0] == [
        "mpremote", "connect", "/dev/ttyACM0", "fs", "cp",
        str(FIRMWARE_DIR / "watchdog_logic.py"), ":watchdog_logic.py",
    ]  # fmt: skip
    assert commands[1][-1] == ":main.py" and commands[-1][-1] == "reset"
    assert all(Path(c[5]).is_file() for c in commands[:2])
    missing = invoke("watchdog", "flash", "--port", str(tmp_path / "ttyACM9"))
    assert missing.exit_code == 1 and "plug the watchdog board in" in missing.output


@pytest.mark.parametrize("args", [["units", "install", "--role", "toaster"], ["nope"]])
def test_bad_input_is_a_usage_error_not_a_traceback(args):
    result = invoke(*args)
    assert result.exit_code == 2 and "Traceback" not in result.output


def imported_modules(source: Path) -> set[str]:
    """Every module ``source`` imports, at the top or inside a function, by statement or by
    ``importlib.import_module("...")`` / ``__import__("...")`` with a literal name."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(source.read_text(), filename=str(source))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module)
        elif isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant):
            called = node.func.attr if isinstance(node.func, ast.Attribute) else None
            called = called or (node.func.id if isinstance(node.func, ast.Name) else None)
            if called in ("import_module", "__import__") and isinstance(node.args[0].value, str):
                names.add(node.args[0].value)
    return names


def test_provisioning_never_imports_the_server():
    sources = sorted((REPO / "provisioning").rglob("*.py"))
    assert len(sources) > 10
    offending = {
        f"{source.relative_to(REPO)}: {name}"
        for source in sources
        for name in imported_modules(source)
        if name.split(".")[0] in SERVER_PACKAGES
    }
    assert offending == set(), "dcs-provision reaches the server through its API only"


def test_the_import_check_sees_lazy_and_dynamic_imports(tmp_path):
    sample = tmp_path / "sample.py"
    sample.write_text(
        "import importlib\n"
        "def later():\n"
        "    from sync_server.db import database\n"
        "    importlib.import_module('sync_server.enrollments')\n"
    )
    assert {"sync_server.db", "sync_server.enrollments"} <= imported_modules(sample)


def test_a_bundle_config_trusts_the_server_key_for_commands_with_or_without_a_replica():
    import tomllib

    from device.config import config_from_dict
    from provisioning.bundle import StationPlan, station_toml

    key = "A" * 43 + "="
    for building in ("building-1", None):
        plan = StationPlan(
            station_id="st-lobby-a",
            broker_host="broker.example",
            broker_port=8883,
            building=building,
            replica_server_key=key,
        )
        config = config_from_dict(tomllib.loads(station_toml(plan)))
        assert config.command_key_text == key
        assert (config.replica is not None) == (building is not None)
    unkeyed = StationPlan(station_id="st-lobby-a", broker_host="b.example", broker_port=8883)
    assert config_from_dict(tomllib.loads(station_toml(unkeyed))).command_key_text is None
