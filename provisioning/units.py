"""systemd units for a station and for the central server.

Station: the daemon (``Type=notify``, systemd watchdog fed only while the sync loop makes
progress — see device/sdnotify.py) and Chromium in kiosk mode on the loopback kiosk, started
after the daemon is ready. Server: gunicorn (gunicorn.conf.py), ingest workers as a template
unit (``dcs-ingest@1``, ``dcs-ingest@2``...) each with its live-lookup process
(``dcs-lookup@1``...), the kiosk-services worker, the replica
publisher, the alarm rules, the abandoned-session sweeper, and a daily timer re-signing
the fleet CRL the broker checks (``dcs-provision ca crl refresh``). Each runs as its own service
user with systemd's sandboxing.
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path

from provisioning.kiosk_policy import write_policy

UNIT_DIR = Path("etc/systemd/system")

#: The ingest workers' scheduling priority: applying a backlog is batch work, and after an
#: outage it would take the cores from the broker, the live lookups and the web app, which
#: people are waiting on (bench/city.py measured lookups timing out while it ran at 0).
INGEST_NICE = 10
#: The same as a cgroup weight (systemd's default is 100). On cgroup v2 with CPU accounting
#: (Debian 12's default) each service is its own cgroup and the kernel shares the cores
#: between cgroups by weight first; a nice value then only orders threads inside one.
INGEST_CPU_WEIGHT = 10

#: Mosquitto's priority on the server's host, in a drop-in for Debian's own unit. One thread
#: serves every station: after an outage it runs thousands of TLS handshakes, and while it
#: waits for a core every client's packets wait in its sockets. bench/city.py on 2 cores:
#: at 0, live lookups waited 1-10 s to be read (p95 5.0 s, 47 of 263 timed out); at -10,
#: p95 200 ms.
BROKER_NICE = -10
BROKER_CPU_WEIGHT = 1000
BROKER_DROP_IN = "mosquitto.service.d/dcs-priority.conf"

#: Sandboxing shared by every service (they write only under their state directory).
_HARDENING = """NoNewPrivileges=yes
PrivateTmp=yes
ProtectSystem=strict
ProtectHome=yes
ProtectKernelTunables=yes
ProtectControlGroups=yes
RestrictSUIDSGID=yes
LockPersonality=yes
"""


@dataclass(frozen=True)
class Layout:
    """Where things live on the target machine."""

    prefix: str = "/opt/dcs"  # the virtualenv is <prefix>/.venv
    config_dir: str = "/etc/dcs"
    state_dir: str = "/var/lib/dcs"
    user: str = "dcs"
    kiosk_user: str = "dcs-kiosk"
    kiosk_url: str = "http://127.0.0.1:8080/"
    ingest_workers: int = 2
    #: The CRL-signing copy of the CA on the broker's host (intermediate key, no root key)
    #: and the broker's directory from ``dcs-provision broker config --out``.
    ca_dir: str = "/etc/dcs/ca"
    broker_dir: str = "/etc/mosquitto/dcs"
    #: Root-only file with the CA passphrase, handed to the refresh as a systemd credential.
    ca_passphrase_file: str = "/etc/dcs/ca-passphrase"  # noqa: S105 - a path, not a secret

    @property
    def bin(self) -> str:
        """The virtualenv's bin directory."""
        return f"{self.prefix}/.venv/bin"

    @property
    def station_bin(self) -> str:
        """A station's running release (device/update/layout.py: ``current`` is switched)."""
        return f"{self.prefix}/current/venv/bin"


def station_units(layout: Layout) -> dict[str, str]:
    """The station's unit files by name."""
    daemon = f"""[Unit]
Description=Digital citizen station daemon (store, sync, devices, kiosk app)
Wants=network-online.target pcscd.service
After=network-online.target pcscd.service

[Service]
Type=notify
NotifyAccess=main
ExecStart={layout.station_bin}/dcs-station run --config {layout.config_dir}/bundle/station.toml
User={layout.user}
Group={layout.user}
SupplementaryGroups=gpio dialout
WatchdogSec=60
Restart=always
RestartSec=5
TimeoutStopSec=30
StateDirectory=dcs
ReadWritePaths={layout.state_dir}
{_HARDENING}
[Install]
WantedBy=multi-user.target
"""
    # cage on tty7 as the kiosk user with a PAM session (it needs a seat); `dcs-station browser`
    # runs cage + Chromium as its child and restarts them when the page's heartbeat stops.
    kiosk = f"""[Unit]
Description=Digital citizen station touchscreen (Chromium in kiosk mode under cage)
Requires=dcs-station.service
After=dcs-station.service systemd-user-sessions.service getty@tty7.service
Conflicts=getty@tty7.service

[Service]
User={layout.kiosk_user}
PAMName=login
TTYPath=/dev/tty7
TTYReset=yes
TTYVHangup=yes
TTYVTDisallocate=yes
StandardInput=tty-fail
StandardOutput=journal
StandardError=journal
UtmpIdentifier=tty7
UtmpMode=user
Environment=XDG_SESSION_TYPE=wayland
RuntimeDirectory=dcs-kiosk
ExecStart={layout.bin}/dcs-station browser --url {layout.kiosk_url} \\
    --profile /run/dcs-kiosk/profile --compositor cage
Restart=always
RestartSec=3

[Install]
WantedBy=graphical.target
"""
    # At every boot, after the daemon started: finish or undo an update a power cut
    # interrupted (device/update/installer.py). Root: it switches /opt/dcs/current and
    # restarts the units; an uncommitted release gets one verify-boot, else is rolled back.
    resume = f"""[Unit]
Description=Digital citizen station: resume an interrupted software update
Wants=dcs-station.service
After=dcs-station.service

[Service]
Type=oneshot
Environment=DCS_RELEASE_ROOT={layout.prefix}
Environment=DCS_STATION_CONFIG={layout.config_dir}/bundle/station.toml
ExecStart={layout.station_bin}/dcs-station update resume
TimeoutStartSec=600

[Install]
WantedBy=multi-user.target
"""
    return {
        "dcs-station.service": daemon,
        "dcs-kiosk-browser.service": kiosk,
        "dcs-update-resume.service": resume,
    }


#: Runs ``dcs-server db upgrade``; every other server unit requires it and starts after it,
#: so each (re)start of a unit migrates first, and a failed migration keeps the server down.
DB_UPGRADE_UNIT = "dcs-db-upgrade.service"


def _db_upgrade_unit(layout: Layout) -> str:
    return f"""[Unit]
Description=DCS central server database migrations
Wants=network-online.target
After=network-online.target postgresql.service

[Service]
Type=oneshot
User={layout.user}
Group={layout.user}
Environment=DCS_SERVER_CONFIG={layout.config_dir}/server.toml
WorkingDirectory={layout.prefix}
ExecStart={layout.bin}/dcs-server db upgrade
StateDirectory=dcs
ReadWritePaths={layout.state_dir}
{_HARDENING}"""


def _server_unit(
    layout: Layout,
    description: str,
    command: str,
    *,
    instance: bool,
    wants: str = "",
    nice: int = 0,
    cpu_weight: int | None = None,
) -> str:
    extra = "Environment=DCS_WORKER_ID=%i\n" if instance else ""
    if nice:
        extra += f"Nice={nice}\n"
    if cpu_weight is not None:
        extra += f"CPUWeight={cpu_weight}\n"
    return f"""[Unit]
Description={description}
Wants=network-online.target{" " + wants if wants else ""}
Requires={DB_UPGRADE_UNIT}
After=network-online.target postgresql.service mosquitto.service {DB_UPGRADE_UNIT}

[Service]
Type=simple
User={layout.user}
Group={layout.user}
Environment=DCS_SERVER_CONFIG={layout.config_dir}/server.toml
{extra}WorkingDirectory={layout.prefix}
ExecStart={command}
Restart=always
RestartSec=5
StateDirectory=dcs
ReadWritePaths={layout.state_dir}
{_HARDENING}
[Install]
WantedBy=multi-user.target
"""


#: Re-signs the CRL daily: Mosquitto refuses every client once its CRL passes nextUpdate
#: (30 days), so a missed week still leaves three weeks to notice (the ``crl`` alarm).
CRL_REFRESH_UNIT = "dcs-crl-refresh.service"
CRL_REFRESH_TIMER = "dcs-crl-refresh.timer"


def _crl_refresh_units(layout: Layout) -> dict[str, str]:
    # Root: it writes the broker's directory and reloads mosquitto.service. The passphrase
    # is a credential (readable by this unit only, never in its environment or command line).
    service = f"""[Unit]
Description=DCS fleet CRL refresh (re-sign, install for Mosquitto, reload it)
After=mosquitto.service

[Service]
Type=oneshot
LoadCredential=ca-passphrase:{layout.ca_passphrase_file}
ExecStart={layout.bin}/dcs-provision ca crl refresh --ca {layout.ca_dir} \\
    --passphrase-file ${{CREDENTIALS_DIRECTORY}}/ca-passphrase --broker-dir {layout.broker_dir} \\
    --reload-command "systemctl reload mosquitto.service"
ReadWritePaths={layout.ca_dir} {layout.broker_dir}
{_HARDENING}"""
    timer = f"""[Unit]
Description=Re-sign the fleet CRL daily (it lapses 30 days after signing)

[Timer]
OnCalendar=daily
RandomizedDelaySec=1h
Persistent=true
Unit={CRL_REFRESH_UNIT}

[Install]
WantedBy=timers.target
"""
    return {CRL_REFRESH_UNIT: service, CRL_REFRESH_TIMER: timer}


def server_units(layout: Layout) -> dict[str, str]:
    """The central server's unit files by name."""
    b = layout.bin
    return {
        DB_UPGRADE_UNIT: _db_upgrade_unit(layout),
        "dcs-web.service": _server_unit(
            layout,
            "DCS central server web app (gunicorn)",
            f"{b}/gunicorn -c {layout.prefix}/gunicorn.conf.py",
            instance=False,
        ),
        # Each ingest worker's live lookups run in a process of their own, started with it
        # (docs/scale.md): a busy ingest never holds up a resident at a kiosk.
        "dcs-ingest@.service": _server_unit(
            layout,
            "DCS ingest worker %i",
            f"{b}/dcs-server ingest --worker-id %i --no-lookups",
            instance=True,
            wants="dcs-lookup@%i.service",
            nice=INGEST_NICE,
            cpu_weight=INGEST_CPU_WEIGHT,
        ),
        "dcs-lookup@.service": _server_unit(
            layout, "DCS live lookups %i", f"{b}/dcs-server lookup --worker-id %i", instance=True
        ),
        "dcs-kiosk-services.service": _server_unit(
            layout, "DCS kiosk services worker", f"{b}/dcs-server kiosk", instance=False
        ),
        "dcs-replicate.service": _server_unit(
            layout, "DCS replica publisher", f"{b}/dcs-server replicate", instance=False
        ),
        "dcs-alarms.service": _server_unit(
            layout, "DCS alarm rules", f"{b}/dcs-server alarms", instance=False
        ),
        "dcs-sms.service": _server_unit(
            layout, "DCS SMS outbox", f"{b}/dcs-server sms", instance=False
        ),
        "dcs-notify.service": _server_unit(
            layout,
            "DCS alarm notifications (e-mail, webhook)",
            f"{b}/dcs-server notify",
            instance=False,
        ),
        "dcs-operator-sweep.service": _server_unit(
            layout,
            "DCS abandoned operator sessions",
            f"{b}/dcs-server operator sweep",
            instance=False,
        ),
        **_crl_refresh_units(layout),
        BROKER_DROP_IN: _BROKER_PRIORITY,
    }


#: Nice takes effect when the broker next starts; the weight at systemd's next reload.
_BROKER_PRIORITY = f"""# Written by dcs-provision units install (docs/scale.md).
[Service]
Nice={BROKER_NICE}
CPUWeight={BROKER_CPU_WEIGHT}
"""


def install(role: str, root: Path, layout: Layout | None = None) -> list[Path]:
    """Write the role's units under ``root``; on the real root also reload systemd."""
    layout = layout or Layout()
    units = station_units(layout) if role == "station" else server_units(layout)
    target = Path(root) / UNIT_DIR
    target.mkdir(parents=True, exist_ok=True)
    written = []
    if role == "station":
        # The browser's managed policy: the kiosk page only, no DevTools (kiosk_policy.py).
        written.append(write_policy(root, layout.kiosk_url))
    for name, text in units.items():
        path = target / name
        path.parent.mkdir(parents=True, exist_ok=True)  # drop-ins: <unit>.d/
        if not path.exists() or path.read_text() != text:
            path.write_text(text)
        path.chmod(0o644)
        written.append(path)
    if Path(root).resolve() == Path("/"):
        subprocess.run(["systemctl", "daemon-reload"], check=True)
    return written


def enable_commands(role: str, layout: Layout | None = None) -> list[list[str]]:
    """The ``systemctl enable --now`` commands the technician runs after installing."""
    layout = layout or Layout()
    if role == "station":
        return [
            [
                "systemctl",
                "enable",
                "--now",
                "dcs-station.service",
                "dcs-kiosk-browser.service",
                "dcs-update-resume.service",
            ]
        ]
    # The upgrade unit is pulled in by the others (Requires=), never enabled on its own;
    # the CRL refresh is started by its timer.
    started_by_others = (DB_UPGRADE_UNIT, CRL_REFRESH_UNIT)
    names = [
        n
        for n in server_units(layout)
        if "@" not in n and "/" not in n and n not in started_by_others  # "/": a drop-in
    ]
    for n in range(1, layout.ingest_workers + 1):
        names += [f"dcs-ingest@{n}.service", f"dcs-lookup@{n}.service"]
    return [["systemctl", "enable", "--now", *names]]
