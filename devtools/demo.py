"""``dcs-demo``: the whole system on its embedded defaults, on this machine.

A throw-away fleet CA; Mosquitto with the generated TLS configuration (client certificates,
the station ACL, the CRL) on a free loopback port; the central server on SQLite under gunicorn
and its workers (connecting with the server certificate); synthetic residents, exported to a
residents file and imported with ``dcs-server records import``; and two stations
provisioned like real ones (signed bundle, enrolled, recorded) with virtual hardware: each
has a virtual Thai ID card in its own slot of a vpcd reader behind the real pcscd (read with
pyscard, as on a kiosk), a virtual network printer on a loopback port, gpiozero's mock pins and
the virtual watchdog board. Ctrl-C stops everything by pid.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import signal
import sqlite3
import subprocess
import sys
import threading
import time
import urllib.request
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import click
from rich.console import Console
from rich.table import Table

from devtools import synthetic
from devtools.broker_tls import TlsBroker
from devtools.cardstack import CardStackError, LocalPcscd
from devtools.demo_control import card, open_control, serve_requests
from devtools.demo_fleet import Fleet
from devtools.eid_people import export_eid_people
from devtools.net import free_port, wait_for_port
from devtools.paysim import BILLERS
from devtools.residents import export
from devtools.synthetic import write_card_files
from provisioning.pki import CertificateAuthority

STATIONS = ("st-lobby-a", "st-lobby-b")
console = Console()


def _bin(name: str) -> str:
    return str(Path(sys.executable).parent / name)


@dataclass(frozen=True)
class StationRig:
    """Where one demo station's virtual devices are."""

    station_id: str
    slot: int
    printer_port: int
    printer_control_port: int
    kiosk_port: int
    building: str  # its replica scope: the building of the resident whose card is in its slot

    @property
    def printer_spool(self) -> str:
        return f"{self.station_id}/printer"


def _write_station(
    root: Path,
    rig: StationRig,
    fleet: Fleet,
    tracking_url: str,
    replica_key: str,
    server_access: dict[str, str],
) -> Path:
    """Provision the station as a technician would: a signed bundle, enrolled onto its "card"."""
    from provisioning.bundle import StationPlan, build

    assert fleet.pcscd is not None and fleet.ca is not None
    station_id = rig.station_id
    target = root / station_id  # the station's SD card
    hardware = (
        "[sync]\nheartbeat_interval_s = 5.0\nack_timeout_s = 5.0\n"
        "\n# The real PC/SC stack; the card in this slot is a virtual one.\n"
        f'[card]\nbackend = "real"\nreader_filter = "{fleet.pcscd.reader(rig.slot)}"\n'
        '\n[printer]\nbackend = "virtual"\n'
        f'virtual = {{ host = "127.0.0.1", port = {rig.printer_port} }}\n'
        '\n[gpio]\nbackend = "virtual"\n'
        '\n[watchdog]\nbackend = "virtual"\ntimeout_s = 60\n'
    )
    plan = StationPlan(
        station_id=station_id,
        broker_host=fleet.broker.host,
        broker_port=fleet.broker.port,
        data_dir=str(target / "var/lib/dcs"),
        secrets_dir=str(target / "etc/dcs/bundle/secrets"),
        building=rig.building,
        replica_server_key=replica_key,
        kiosk_port=rig.kiosk_port,
        tracking_url=tracking_url,
        hardware_toml=hardware,
        # A demo station must not reboot this machine: the request is written down instead.
        reboot_command=("touch", str(target / "reboot-requested")),
    )
    bundle = build(fleet.ca, plan, root / "ca" / "stations" / station_id, days=30)
    subprocess.run(  # the technician's enrolment: verified, written, recorded on the server
        [
            _bin("dcs-provision"), "station", "enroll", "--bundle", str(bundle),
            "--target", str(target), "--fleet-root", str(fleet.ca.directory / "root.crt.pem"),
            "--by", "demo-technician",
        ],
        env={**os.environ, **server_access},  # the server's URL and API token, as on a laptop
        check=True,
        capture_output=True,
    )  # fmt: skip
    return target / "etc/dcs/bundle/station.toml"


def _username(role: str) -> str:
    """The demo's account for ``role`` (usernames take no underscore)."""
    return "demo-" + role.replace("_", "-")


def _server(env: dict[str, str], *args: str) -> str:
    """Run a ``dcs-server`` command against the demo's server config; its stdout."""
    return subprocess.run(
        [_bin("dcs-server"), *args],
        env={**os.environ, **env},
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()


def _get_json(url: str, token: str) -> dict:
    # Our own loopback URL, http only.
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"})  # noqa: S310
    with urllib.request.urlopen(request, timeout=5) as response:  # noqa: S310
        return json.load(response)


def _wait_applied(api: str, token: str, number: str, attempts: int = 300) -> bool:
    for _ in range(attempts):
        try:
            if _get_json(f"{api}/petitions/{number}", token)["number"] == number:
                return True
        except OSError:
            pass
        time.sleep(0.1)
    return False


@click.group(invoke_without_command=True)
@click.option(
    "--root", type=click.Path(path_type=Path), default=Path("var/demo"), show_default=True
)
@click.option("--residents", default=200, show_default=True, help="Synthetic residents to import.")
@click.option("--check", is_flag=True, help="Start, prove a petition syncs, stop (for tests/CI).")
@click.pass_context
def main(ctx: click.Context, root: Path, residents: int, check: bool) -> None:
    """Run the demo fleet until Ctrl-C (or, with a command, talk to a running one)."""
    if ctx.invoked_subcommand is not None:
        return
    root = root.resolve()
    if root.exists():
        shutil.rmtree(root)
    root.mkdir(parents=True)

    # The fleet's CA (a throw-away one) and Mosquitto with its generated TLS configuration.
    ca = CertificateAuthority.init(root / "ca", secrets.token_urlsafe(24).encode())
    broker = TlsBroker(ca).start()
    fleet = Fleet(root=root, broker=broker, ca=ca)
    assert broker.process is not None
    fleet.record("mosquitto", broker.process.pid)
    fleet.pcscd = LocalPcscd(workdir=root / "pcscd")
    try:
        fleet.pcscd.start()
        assert fleet.pcscd.process is not None
        fleet.record("pcscd", fleet.pcscd.process.pid)
    except CardStackError as exc:
        fleet.pcscd = None
        fleet.stop()
        console.print(f"[red]cannot start the card reader stack: {exc}", soft_wrap=True)
        raise SystemExit(1) from None
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    try:
        ok = _run(fleet, residents, check, stop)
    finally:
        console.print("stopping…")
        fleet.stop()
        console.print("[green]stopped cleanly")
    if not ok:
        raise SystemExit(1)


main.add_command(card)  # dcs-demo card insert|pull --station ...


def _run(fleet: Fleet, residents: int, check: bool, stop: threading.Event) -> bool:
    root, broker = fleet.root, fleet.broker
    server_dir = root / "server"
    server_dir.mkdir()
    server_config = server_dir / "server.toml"
    web_port = free_port()
    billers_port, bank_port, clinic_port = free_port(), free_port(), free_port()
    clinic_token = secrets.token_urlsafe(24)
    bank_secret = secrets.token_urlsafe(32)
    bank_secret_file = server_dir / "bank-webhook.secret"
    bank_secret_file.write_text(bank_secret)
    os.chmod(bank_secret_file, 0o600)
    (server_dir / "bank.url").write_text(f"http://127.0.0.1:{bank_port}/pay")
    tracking_url = f"http://127.0.0.1:{web_port}/track?number={{number}}"
    server_config.write_text(
        f'SECRET_KEY = "{secrets.token_urlsafe(48)}"\n'
        f'TRACKING_URL = "{tracking_url}"\n'
        f'DATABASE_URL = "sqlite:///{server_dir / "dcs.sqlite3"}"\n'
        f'MQTT_HOST = "{broker.host}"\n'
        f"MQTT_PORT = {broker.port}\n"
        f'MQTT_CA_FILE = "{broker.chain}"\n'
        f'MQTT_CERT_DIR = "{broker.server_cert_dir}"\n'
        # Signs replicas and commands; kept with the demo, not in the checkout's instance/.
        f'REPLICA_SIGNING_KEY_FILE = "{server_dir / "replica-signing.key"}"\n'
        # Bills (docs/bills.md): PromptPay for a Thai deployment, the simulated billers and
        # insurer (devtools/paysim.py), the simulated bank's webhook secret.
        'PAYMENT_COUNTRY = "TH"\n'
        'PAYMENT_PROMPTPAY_BILLER_ID = "010555512345601"\n'
        f'BANK_WEBHOOK_SECRET = "{bank_secret}"\n'
        f'INSURANCE_PRODUCT_URL = "http://127.0.0.1:{billers_port}/insurance"\n'
        # Check-ups with telemedicine: the simulated clinic (devtools/clinic.py).
        f'CLINIC_URL = "http://127.0.0.1:{clinic_port}"\n'
        'CLINIC_NAME = "city-clinic"\n'
        f'CLINIC_TOKEN = "{clinic_token}"\n'
        "BILLER_URLS = { "
        + ", ".join(f'{name} = "http://127.0.0.1:{billers_port}/{name}"' for name in BILLERS)
        + " }\n"
    )
    os.chmod(server_config, 0o600)
    server_env = {"DCS_SERVER_CONFIG": str(server_config)}
    _server(server_env, "db", "upgrade")  # as the systemd units do before the server starts

    with console.status("importing synthetic residents…"):
        # As an administrator would: a residents file, through the server's own import.
        residents_file = server_dir / "residents.jsonl"
        export(residents_file, residents)
        _server(server_env, "records", "import", str(residents_file))
        # Seed 001's other people: a foreigner, and an adult ward of the second card holder.
        eid_file = export_eid_people(server_dir / "eid-people.jsonl", residents)
        _server(server_env, "records", "import", str(eid_file))
    # The API wants a bearer token: one for the demo's own checks and the guide's curl.
    api_token = _server(server_env, "api-token", "create", "--name", "demo", "--scope", "all")
    fleet.spawn(  # the production settings (gunicorn.conf.py), on a loopback port
        "web",
        [_bin("gunicorn"), "-c", str(Path(__file__).resolve().parent.parent / "gunicorn.conf.py")],
        {**server_env, "DCS_BIND": f"127.0.0.1:{web_port}", "DCS_WEB_WORKERS": "2"},
    )
    fleet.spawn("ingest-1", [_bin("dcs-server"), "ingest", "--worker-id", "1"], server_env)
    fleet.spawn("kiosk-services-1", [_bin("dcs-server"), "kiosk"], server_env)
    fleet.spawn("replicate-1", [_bin("dcs-server"), "replicate"], server_env)
    fleet.spawn("alarms", [_bin("dcs-server"), "alarms"], server_env)
    fleet.spawn("sms", [_bin("dcs-server"), "sms"], server_env)  # the citizens' texts
    # The simulated billers/insurer and bank (a real deployment plugs in its own).
    paysim = [sys.executable, "-m", "devtools.paysim"]
    fleet.spawn("billers", [*paysim, "billers", "--port", str(billers_port)], {})
    fleet.spawn(
        "clinic",
        [sys.executable, "-m", "devtools.clinic", "--port", str(clinic_port),
         "--token", clinic_token],
        {},
    )  # fmt: skip
    webhook = f"http://127.0.0.1:{web_port}/bills/webhook/bank"
    fleet.spawn(
        "bank",
        [*paysim, "bank", "--port", str(bank_port), "--webhook", webhook,
         "--secret-file", str(bank_secret_file)],
        {},
    )  # fmt: skip
    fleet.spawn("notify", [_bin("dcs-server"), "notify"], server_env)  # alarm e-mail, webhooks
    fleet.spawn("operator-sweep", [_bin("dcs-server"), "operator", "sweep"], server_env)
    # One account per role; each password is shown once and must be changed at first login.
    accounts = {
        role: _server(server_env, "operator", "create", _username(role), "--role", role)
        for role in ("administrator", "operations", "officer", "building_manager")
    }
    assert fleet.pcscd is not None
    replica_key = _server(server_env, "replica", "server-key")
    card_holders = list(synthetic.residents(len(STATIONS)))
    # This month's management fees of the card holders' buildings, from the same CSV file a
    # building manager uploads on the fees page: with the simulated billers' bills, each card
    # holder has bills to pay at the kiosk.
    period = datetime.now(UTC).strftime("%Y-%m")
    for holder in card_holders:
        fee_file = server_dir / f"fees-{holder.building}.csv"
        fee_file.write_text(f"unit,citizen_id,amount\n12A,{holder.citizen_id},1850.00\n")
        _server(
            server_env, "fees", "import", str(fee_file),
            "--building", holder.building, "--period", period, "--actor", "demo",
        )  # fmt: skip
    rigs = [
        StationRig(
            station_id, slot, free_port(), free_port(), free_port(), card_holders[slot].building
        )
        for slot, station_id in enumerate(STATIONS)
    ]
    # --- dcs-provision talks to the server's API: its URL and a token with the two scopes.
    if not wait_for_port("127.0.0.1", web_port, attempts=600):
        console.print(f"[red]the web server did not start; see {root / 'web.log'}")
        return False
    server_access = {
        "DCS_SERVER_URL": f"http://127.0.0.1:{web_port}",
        "DCS_API_TOKEN": _server(
            server_env, "api-token", "create", "--name", "provisioning",
            "--scope", "stations:enroll", "--scope", "stations:command",
        ),
    }  # fmt: skip
    # --- end of dcs-provision's access
    configs = {
        rig.station_id: _write_station(root, rig, fleet, tracking_url, replica_key, server_access)
        for rig in rigs
    }
    for rig in rigs:  # the technician's enrolment: the station's key, then the server side
        station_key = subprocess.run(
            [
                sys.executable,
                "-m",
                "device.replica",
                "key",
                "--config",
                str(configs[rig.station_id]),
            ],
            check=True,
            capture_output=True,
            text=True,
        ).stdout.strip()
        _server(
            server_env,
            "replica",
            "enrol",
            "--station",
            rig.station_id,
            "--building",
            rig.building,
            "--public-key",
            station_key,
        )
    # The first residents of the seeded population carry the demo's cards.
    cards = write_card_files(len(rigs), root / "cards")
    for rig, card_file in zip(rigs, cards, strict=True):
        fleet.spawn(
            f"{rig.station_id}-printer",
            [
                sys.executable,
                "-m",
                "hardware.printer.virtual",
                "--port",
                str(rig.printer_port),
                "--control-port",
                str(rig.printer_control_port),
                "--spool",
                str(root / rig.printer_spool),
            ],
            {},
        )
        fleet.add_card_slot(
            rig.station_id,
            [
                sys.executable,
                "-m",
                "hardware.card.virtual",
                "--resident",
                str(card_file),
                "--port",
                str(fleet.pcscd.slot_port(rig.slot)),
            ],
        )
    open_control(fleet)  # from now on `dcs-demo card insert|pull` works
    for rig in rigs:
        name = f"{rig.station_id}-printer"
        printer = fleet.processes[name]
        # A hang guard of 60 s, not a speed check: on a loaded machine (a test run building
        # releases beside it) importing the printer's libraries took more than the 10 s
        # this once allowed. A printer that exits is reported at once.
        if not wait_for_port(
            "127.0.0.1", rig.printer_port, attempts=1200, alive=lambda p=printer: p.poll() is None
        ):
            console.print(
                f"[red]the virtual printer of {rig.station_id} did not start;"
                f" see {root / (name + '.log')}"
            )
            return False
    # The technician's self-test, before the daemon takes the devices.
    first = configs[STATIONS[0]]
    selftest = subprocess.run(
        [_bin("station-hw"), "selftest", "--config", str(first), "--require-card", "--test-page"],
        capture_output=True,
        text=True,
        env={**os.environ, "COLUMNS": str(console.width)},
    )
    sys.stdout.write(selftest.stdout)
    sys.stdout.flush()
    if selftest.returncode != 0:
        console.print(f"[red]the self-test of {STATIONS[0]} failed")
        return False
    for station_id, config in configs.items():
        fleet.spawn(
            station_id,
            [_bin("dcs-station"), "-v", "run", "--config", str(config)],
            {"DCS_FLEET_ROOT": str(root / station_id / "etc/dcs/fleet-root.crt.pem")},
        )
    if not wait_for_port("127.0.0.1", web_port):
        console.print(f"[red]the web server did not start; see {root / 'web.log'}")
        return False
    api = f"http://127.0.0.1:{web_port}/api/v1"

    number = subprocess.run(
        [
            _bin("dcs-station"),
            "petition",
            "--config",
            str(configs[STATIONS[0]]),
            "--phone",
            "0812345678",
            "--subject",
            "demo: the lobby light is out",
        ],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    with console.status("waiting for the first petition to sync and its receipt to print…"):
        synced = _wait_applied(api, api_token, number)
        receipt = _wait_receipt(rigs[0], root) if synced else None
    if not synced:
        console.print(f"[red]petition {number} did not reach the server; logs in {root}")
        return False
    if receipt is None:
        console.print(f"[red]the receipt of {number} did not print; logs in {root}")
        return False
    with console.status("waiting for the citizen's SMS with the number and tracking link…"):
        filing_sms = _wait_filing_sms(root / "server" / "dcs.sqlite3", number)
    if filing_sms is None:
        console.print(f"[red]no SMS for {number} reached the SMS sink; see {root / 'sms.log'}")
        return False
    console.print(f"SMS to 081-XXX-5678 from OSS-LOCAL: {filing_sms}")

    with console.status("waiting for the kiosks and the stations' replicas…"):
        # 60 s each: a hang guard on a loaded machine, as for the printers above.
        kiosks_up = all(wait_for_port("127.0.0.1", rig.kiosk_port, attempts=1200) for rig in rigs)
        replicas = {station_id: _wait_replica(config) for station_id, config in configs.items()}
    if not kiosks_up:
        console.print(f"[red]a kiosk did not start; logs in {root}")
        return False
    if missing := [station_id for station_id, records in replicas.items() if not records]:
        console.print(f"[red]no replica reached {', '.join(missing)}; logs in {root}")
        return False

    _print_guide(fleet, api, api_token, configs, rigs, number, receipt, replicas, accounts)
    if check:
        if not _check_card_cycle(fleet, STATIONS[0]):
            return False
        console.print(
            f"[green]check passed: {number} filed at {STATIONS[0]}, applied, receipt printed,"
            " SMS sent, card pulled and inserted again"
        )
        return True
    while not stop.wait(0.2):
        for done in serve_requests(fleet):
            console.print(done)
        if dead := fleet.dead():
            console.print(f"[red]{', '.join(dead)} exited; logs in {root}")
            return False
    return True


def _check_card_cycle(fleet: Fleet, station_id: str) -> bool:
    """Pull the station's card and insert it again through ``dcs-demo card``, as a visitor
    would, and see the station notice both in its log."""
    log = fleet.root / f"{station_id}.log"
    reader = f"Virtual PCD 00 {list(fleet.cards).index(station_id):02d}"
    for action, line, count in (("pull", "removed", 1), ("insert", "inserted", 2)):
        asking = subprocess.Popen(
            [_bin("dcs-demo"), "card", action, "--station", station_id, "--root", str(fleet.root)],
            stdout=subprocess.PIPE,
            text=True,
        )
        while asking.poll() is None:  # serve the request the command is waiting on
            serve_requests(fleet)
            time.sleep(0.1)
        answer = (asking.stdout.read() if asking.stdout else "").strip()
        console.print(answer)
        if asking.returncode != 0 or not _wait_log(log, f"card {line} in {reader}", count):
            console.print(f"[red]{station_id} did not see its card {line}; see {log}")
            return False
    return True


def _wait_log(log: Path, text: str, count: int, attempts: int = 300) -> bool:
    """Wait until ``text`` appears ``count`` times in ``log``."""
    for _ in range(attempts):
        if log.read_text(errors="replace").count(text) >= count:
            return True
        time.sleep(0.1)
    return False


def _wait_filing_sms(database: Path, number: str, attempts: int = 300) -> str | None:
    """The text of seed 004's filing SMS for ``number`` once the local sink holds it."""
    for _ in range(attempts):
        with contextlib.closing(sqlite3.connect(f"file:{database}?mode=ro", uri=True)) as db:
            row = db.execute(
                "SELECT text FROM sentsms WHERE text LIKE ? ORDER BY id LIMIT 1", (f"%{number}%",)
            ).fetchone()
        if row:
            return str(row[0])
        time.sleep(0.1)
    return None


def _wait_replica(config: Path, attempts: int = 150) -> int:
    """How many residents the station's replica holds once it has some (0: none came)."""
    for _ in range(attempts):
        status = subprocess.run(
            [sys.executable, "-m", "device.replica", "status", "--config", str(config)],
            capture_output=True,
            text=True,
        )
        for line in status.stdout.splitlines():
            name, _, value = line.partition(" ")
            if name == "records" and value.strip().isdigit() and int(value) > 0:
                return int(value)
        time.sleep(0.2)
    return 0


def _wait_receipt(rig: StationRig, root: Path, attempts: int = 300) -> Path | None:
    """Wait for the petition receipt (the job after the self-test page) and draw it as a PNG."""
    from hardware.printer.virtual import VirtualPrinterControl

    control = VirtualPrinterControl("127.0.0.1", rig.printer_control_port)
    for _ in range(attempts):
        jobs = [job for job in control.jobs() if job.get("complete")]
        if len(jobs) >= 2:
            spool = Path(jobs[1]["path"])
            png = root / f"{rig.station_id}-receipt.png"
            subprocess.run(
                [sys.executable, "-m", "hardware.printer.render", str(spool), str(png)],
                check=True,
                capture_output=True,
            )
            return png
        time.sleep(0.1)
    return None


def _print_guide(
    fleet: Fleet,
    api: str,
    api_token: str,
    configs: dict[str, Path],
    rigs: list[StationRig],
    number: str,
    receipt: Path,
    replicas: dict[str, int],
    accounts: dict[str, str],
) -> None:
    table = Table(title="Digital citizen station demo", show_lines=False)
    table.add_column("part", no_wrap=True)
    table.add_column("where", overflow="fold")
    web = api.removesuffix("/api/v1")
    table.add_row("operators", f"{web}/login")
    for role, password in accounts.items():
        table.add_row(f"  {role}", f"{_username(role)} / {password} (change it at first login)")
    table.add_row("dashboard", f"{web}/dashboard/ (operations, administrator)")
    table.add_row("back office", f"{web}/backoffice/ (officer, administrator)")
    table.add_row("server API", f"{api}/stations")
    table.add_row("API token", f"{api_token} (Authorization: Bearer; docs/api.md)")
    table.add_row("first petition", f"{api}/petitions/{number}")
    table.add_row("tracking page", f"{web}/track?number={number} (phone 0812345678)")
    table.add_row("its receipt", str(receipt))
    table.add_row(
        "broker",
        f"mqtts://{fleet.broker.host}:{fleet.broker.port} (client certificates + ACL + CRL)",
    )
    table.add_row("fleet CA", f"{fleet.root / 'ca'} (station bundles in stations/)")
    if fleet.pcscd is not None:
        table.add_row("card reader", f"pcscd pid {fleet.pcscd.process.pid}, vpcd two slots")
    for rig in rigs:
        table.add_row(
            f"station {rig.station_id}",
            f"{configs[rig.station_id]}\nprinter 127.0.0.1:{rig.printer_port}"
            f" (control {rig.printer_control_port}), card slot {rig.slot}\n"
            f"replica: {replicas[rig.station_id]} residents of {rig.building}",
        )
        table.add_row(f"kiosk {rig.station_id}", f"http://127.0.0.1:{rig.kiosk_port}/")
    table.add_row("logs", str(fleet.root))
    console.print(table)
    station = configs[STATIONS[1]]
    second = rigs[1]
    card_command = f".venv/bin/dcs-demo card {{}} --station {second.station_id}"
    if fleet.root != Path("var/demo").resolve():
        card_command += f" --root {fleet.root}"
    someone = next(synthetic.residents(1)).citizen_id
    console.print(
        "\n[bold]Try[/bold] (in another terminal):\n"
        f"  .venv/bin/dcs-station petition --config {station} --phone 0812345678 --subject test\n"
        f"  .venv/bin/python -m hardware.printer.render"
        f" {fleet.root / second.printer_spool}/job-000001.bin receipt.png\n"
        f"  .venv/bin/station-hw selftest --config {station} --require-card --photo\n"
        f"  .venv/bin/dcs-station lookup --config {station} {someone}   # a synthetic resident\n"
        f"  .venv/bin/dcs-station status --config {station}\n"
        f"  chromium --app=http://127.0.0.1:{second.kiosk_port}/   # its touchscreen\n"
        f"  {card_command.format('pull')}     # pull its card (see its log)\n"
        f"  {card_command.format('insert')}   # ...and insert it again: a new visit\n"
        f"  pcsc_scan   # the virtual reader and card, as PC/SC sees them\n"
        f"  curl -s -X POST {(fleet.root / 'server' / 'bank.url').read_text()}"
        ' -d \'{"payload": "<the QR text>"}\'   # the bank pays a kiosk\'s bill QR\n'
        f'  curl -s -H "Authorization: Bearer {api_token}" {api}/stations\n'
        f"  kill -STOP {fleet.broker.process.pid}   # freeze the broker, file petitions, then\n"
        f"  kill -CONT {fleet.broker.process.pid}   # ...they sync when it is back\n"
        "\nCtrl-C stops everything.",
        soft_wrap=True,
    )
