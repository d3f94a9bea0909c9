"""A station update: artifact size, install time, and the daemon's downtime during a switch.

- **artifact**: the signed tar of this checkout for this machine vs the raw bytes of its wheels
  (what the manifest, the signature and the tar framing cost);
- **install**: verify + new virtualenv from the wheelhouse (``--require-hashes``) vs a bare
  ``python -m venv`` + ``pip install --no-index`` of the same wheels, no checks;
- **rollout**: from ``create`` to every one of 50 simulated stations committed, with the real
  server, worker, broker and the station's own block download (bench/update_fleet.py) vs the
  same bytes published raw to 50 subscribers;
- **downtime**: the longest gap, sampled every 20 ms, during which no daemon is READY with
  the broker connected, while N+1 is switched to and restarted — vs a plain restart of the
  same release under the same supervisor (target: at most 10 s).

The station runs under the process supervisor (device/update/supervisor.py) with a real
Mosquitto; nothing ingests, so the outbox is empty and draining is trivially true.
"""

from __future__ import annotations

import platform
import shutil
import signal
import subprocess
import sys
import tarfile
import tempfile
import threading
import time
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from bench.common import Row, fmt
from bench.update_fleet import fleet_rollout
from contract.release import WHEELS_DIR
from device.config import config_from_dict
from device.health import read_health
from device.store import create_key_file
from device.update.health_check import HealthCheck
from device.update.installer import Installer
from device.update.layout import Layout
from device.update.supervisor import Supervised, read_state
from devtools.broker import LocalBroker
from devtools.release.build import BuildOptions, build_release
from devtools.release.lock import REPO
from provisioning.broker import BrokerLimits
from provisioning.pki import CertificateAuthority

STATION = "bench-update"
TARGET_DOWNTIME_S = 10.0
FLEET = 50


def _copy_with_version(destination: Path, version: str) -> Path:
    skip = shutil.ignore_patterns(
        ".venv", ".git", "node_modules", "var", "build", "*.egg-info", "__pycache__", "tests",
        "bench", "docs", ".ruff_cache", ".pytest_cache", ".hypothesis", "*.mo",
    )  # fmt: skip
    shutil.copytree(REPO, destination, ignore=skip)
    pyproject = destination / "pyproject.toml"
    text = pyproject.read_text()
    pyproject.write_text(text.replace('version = "0.1.0"', f'version = "{version}"', 1))
    return destination


def _raw_install(wheels: Path, target: Path) -> float:
    started = time.monotonic()
    subprocess.run([sys.executable, "-m", "venv", str(target)], check=True)
    names = [p.name.split("-")[0] for p in wheels.glob("*.whl")]
    subprocess.run(
        [str(target / "bin/python"), "-m", "pip", "install", "-q", "--no-index",
         "--find-links", str(wheels), *names],
        check=True,
    )  # fmt: skip
    return time.monotonic() - started


class _Gap:
    """Samples whether a healthy daemon is up; the longest time it was not."""

    def __init__(self, root: Path, data_dir: Path) -> None:
        self.root, self.data_dir = root, data_dir
        self.longest = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _up(self) -> bool:
        state, report = read_state(self.root), read_health(self.data_dir)
        return bool(
            state and state.ready and report and report.broker_connected and report.sync_progress
        )

    def _run(self) -> None:
        down_since: float | None = None
        while not self._stop.is_set():
            now = time.monotonic()
            if self._up():
                if down_since is not None:
                    self.longest = max(self.longest, now - down_since)
                down_since = None
            elif down_since is None:
                down_since = now
            time.sleep(0.02)

    def __enter__(self) -> _Gap:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def run(quick: bool = False) -> list[Row]:
    """Build, install and switch; returns the summary rows."""
    arch = platform.machine()
    key = Ed25519PrivateKey.generate()
    with tempfile.TemporaryDirectory(prefix="bench-update-") as scratch:
        base = Path(scratch)
        n = build_release(BuildOptions(arch=arch), key, base / "n")
        size_mb = n.stat().st_size / 1e6
        with tarfile.open(n) as tar:
            wheels = [m for m in tar.getmembers() if m.name.startswith(f"{WHEELS_DIR}/")]
            tar.extractall(base / "house", members=wheels, filter="data")
        cached = base / "house" / WHEELS_DIR
        raw_bytes = sum(p.stat().st_size for p in cached.glob("*.whl"))
        options = BuildOptions(
            arch=arch,
            source=_copy_with_version(base / "src", "0.1.1"),
            find_links=cached,
            prebuilt=cached,
        )
        n1 = build_release(options, key, base / "n1")

        raw_install_s = _raw_install(cached, base / "raw-venv")
        fleet = 10 if quick else FLEET
        rollout_s, raw_publish_s, per_station = fleet_rollout(n1, key, fleet)

        ca = CertificateAuthority.init(base / "ca", b"bench-update-ca")
        broker = LocalBroker(limits=BrokerLimits(), ca=ca)
        broker.add_user(STATION)
        broker.start()
        supervisor = None
        try:
            secrets = base / "secrets"
            secrets.mkdir()
            create_key_file(secrets / "store.key")
            section = broker.station_broker(STATION, secrets)
            config = config_from_dict(
                {
                    "station_id": STATION,
                    "data_dir": str(base / "data"),
                    "secrets_dir": str(secrets),
                    "broker": section,
                    "sync": {"poll_interval_s": 0.1, "heartbeat_interval_s": 1.0},
                }
            )
            config_file = base / "station.toml"
            broker_lines = "\n".join(f'{k} = "{v}"' if isinstance(v, str) else f"{k} = {v}"
                                     for k, v in section.items())  # fmt: skip
            config_file.write_text(
                f'station_id = "{STATION}"\ndata_dir = "{config.data_dir}"\n'
                f'secrets_dir = "{secrets}"\n\n[broker]\n{broker_lines}\n\n'
                "[sync]\npoll_interval_s = 0.1\nheartbeat_interval_s = 1.0\n"
            )
            root = base / "root"
            manager = Supervised(root)
            installer = Installer(
                Layout(root),
                manager,
                HealthCheck(manager, Path(config.data_dir), 120.0),
                key.public_key(),
            )
            started = time.monotonic()
            installer.install_first(n)
            install_s = time.monotonic() - started
            supervisor = subprocess.Popen(
                [str(Path(sys.executable).parent / "dcs-station"), "update", "supervise",
                 "--root", str(root), "--", "--config", str(config_file), "--unsigned-config"],
            )  # fmt: skip
            gap = _Gap(root, Path(config.data_dir))
            while not gap._up():
                time.sleep(0.05)
            with _Gap(root, Path(config.data_dir)) as plain:
                manager.restart()
                time.sleep(0.5)
                while not plain._up():
                    time.sleep(0.05)
                time.sleep(0.3)
            with _Gap(root, Path(config.data_dir)) as switch:
                journal = installer.install(n1)
                time.sleep(0.3)
            assert journal.state == "committed", journal.reason
        finally:
            if supervisor is not None:
                supervisor.send_signal(signal.SIGTERM)
                supervisor.wait(30)
            broker.cleanup()

    print(f"update: artifact {size_mb:.1f} MB ({raw_bytes / 1e6:.1f} MB of wheels)")
    print(f"update: install {install_s:.1f} s (raw venv + pip {raw_install_s:.1f} s)")
    print(
        f"update: rollout to {fleet} stations {rollout_s:.1f} s "
        f"({per_station / 1e6:.1f} MB each; raw publish {raw_publish_s:.1f} s)"
    )
    print(f"update: downtime {fmt(switch.longest, 's')} (plain restart {fmt(plain.longest, 's')})")
    return [
        Row("update", "artifact size (this machine's arch)", size_mb, "MB", raw_bytes / 1e6),
        Row("update", "install: verify + venv from wheelhouse", install_s, "s", raw_install_s),
        Row(
            "update",
            f"rollout start to {fleet} simulated stations committed",
            rollout_s,
            "s",
            raw_publish_s,
        ),
        Row(
            "update",
            "downtime during a switch",
            switch.longest,
            "s",
            plain.longest,
            target=f"<= {TARGET_DOWNTIME_S:.0f} s",
            ok=switch.longest <= TARGET_DOWNTIME_S,
        ),
    ]
