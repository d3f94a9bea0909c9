"""Gathering a station's diagnostics: the facts, then the allowlist, then a zip.

:func:`build_bundle` is the one entry point, for the daemon (the ``collect_diagnostics``
remote command, with its live devices and link) and for ``dcs-station diagnostics`` on site
(which runs the hardware self-test itself: the daemon should be stopped, as for
``station-hw selftest``). What it returns has been through :func:`redact.allowlisted` and the
redactor; nothing else leaves.
"""

from __future__ import annotations

import io
import json
import logging
import os
import platform
import shutil
import subprocess
import time
import zipfile
from dataclasses import dataclass
from datetime import datetime
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any

import msgspec

from contract import DIAGNOSTICS_MAX_BYTES
from device import logfile
from device.diagnostics.redact import Redactor, allowlisted, redact_strings
from device.selftest import CheckResult, SelftestOptions, passed, run_selftest

if TYPE_CHECKING:
    from device.station import Station

log = logging.getLogger(__name__)

FORMAT = 1
PACKAGE = "digital-citizen-station"
#: The dependencies whose versions matter when a station misbehaves.
DEPENDENCIES = (
    "paho-mqtt",
    "msgspec",
    "peewee",
    "cryptography",
    "Flask",
    "cheroot",
    "pyscard",
    "python-escpos",
    "gpiozero",
    "pyserial",
    "Pillow",
)
DEFAULT_LOG_LINES = 200


@dataclass(frozen=True)
class Bundle:
    """A finished bundle: the zip's bytes and the document inside it (for the CLI's summary)."""

    data: bytes
    document: dict[str, Any]
    log_lines: int


def build_bundle(
    station: Station,
    *,
    made_by: str,
    log_lines: int = DEFAULT_LOG_LINES,
    run_hardware_selftest: bool = False,
    max_bytes: int = DIAGNOSTICS_MAX_BYTES,
) -> Bundle:
    """The station's redacted diagnostics bundle, a zip of ``diagnostics.json`` and ``log.txt``.

    ``made_by`` says who asked (``command <id>``, ``on site``). With ``run_hardware_selftest``
    the self-test opens the devices (on site); otherwise the daemon's live device state is
    reported. The log tail is shortened until the zip fits ``max_bytes``.
    """
    redactor = Redactor(_resident_names(station))
    facts = _facts(station, made_by, run_hardware_selftest)
    lines = [redactor(line) for line in logfile.tail(station.config.data_dir, log_lines)]
    facts["log"] = {"lines": len(lines), "file": "log.txt", "masked": 0}
    document = redact_strings(allowlisted(facts), redactor)
    document["log"]["masked"] = redactor.masked
    while True:
        data = _zip(document, lines)
        if len(data) <= max_bytes or not lines:
            break
        lines = lines[len(lines) // 2 :]  # the newest half
        document["log"]["lines"] = len(lines)
    if len(data) > max_bytes:
        raise ValueError(f"a diagnostics bundle without its log is still {len(data)} bytes")
    return Bundle(data=data, document=document, log_lines=len(lines))


def _zip(document: dict[str, Any], lines: list[str]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(
            "diagnostics.json", json.dumps(document, ensure_ascii=False, indent=1, default=str)
        )
        archive.writestr("log.txt", "\n".join(lines) + ("\n" if lines else ""))
    return buffer.getvalue()


def _resident_names(station: Station) -> list[str]:
    """The names this station's store knows: its replica's residents, its queued petitions'."""
    names: list[str] = []
    if station.replica is not None:
        try:
            names += station.replica.resident_names()
        except Exception:  # a store that does not open must not stop the bundle
            log.exception("diagnostics could not read the replica's names")
    try:
        for tx in station.store.outbox.pending(limit=10_000):
            form = tx.body.get("form") or {}
            names += [str(v) for k, v in form.items() if "name" in k.lower() and v]
    except Exception:
        log.exception("diagnostics could not read the outbox's names")
    return names


def _facts(station: Station, made_by: str, run_hardware_selftest: bool) -> dict[str, Any]:
    config = station.config
    now = station.store.clock()
    return {
        "format": FORMAT,
        "station_id": config.station_id,
        "generated_at": now.isoformat(),
        "made_by": made_by,
        "versions": versions(),
        "config": _config(station),
        "selftest": _selftest(station, run_hardware_selftest),
        "outbox": _outbox(station, now),
        "replica": _replica(station),
        "sync": {
            "connected": station.sync.link.connected,
            "uptime_s": round(station.sync.uptime_s, 1),
            "making_progress": station.sync.making_progress(
                max(3 * config.sync.poll_interval_s, 5.0)
            ),
        },
        "service_locked": station.service_lock.locked if station.service_lock else None,
        "disk": _disk(station),
        "clock": _clock(station, now),
    }


def versions() -> dict[str, Any]:
    """The installed package's version, its key dependencies', Python's and the OS's."""

    def version(name: str) -> str | None:
        try:
            return metadata.version(name)
        except metadata.PackageNotFoundError:
            return None

    return {
        "package": version(PACKAGE),
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "os": _os_name(),
        "kernel": platform.release(),
        "machine": platform.machine(),
        "dependencies": {name: version(name) for name in DEPENDENCIES},
    }


def _os_name() -> str:
    try:
        return platform.freedesktop_os_release().get("PRETTY_NAME", platform.system())
    except OSError:
        return platform.system()


def _config(station: Station) -> dict[str, Any]:
    config = station.config
    data = msgspec.to_builtins(config)
    data["broker"]["tls"] = config.broker.cert_file is not None
    data["commands_verified"] = config.command_key_text is not None
    return data


def _selftest(station: Station, run_hardware: bool) -> dict[str, Any]:
    if run_hardware:
        results = run_selftest(station.config, SelftestOptions(card_wait_s=1.0))
        source = "self-test (devices opened)"
    else:
        results = _live_devices(station)
        source = "daemon (live devices; the self-test needs the daemon stopped)"
    return {
        "source": source,
        "passed": passed(results),
        "checks": [
            {"device": r.device, "check": r.check, "outcome": r.outcome, "detail": r.detail}
            for r in results
        ],
    }


def _live_devices(station: Station) -> list[CheckResult]:
    """What the running daemon knows of each fitted device, as self-test rows."""
    hardware = station.hardware
    config = station.config
    rows: list[CheckResult] = []
    figures = hardware.metrics() if hardware is not None else {}
    fitted = {
        "card reader": config.card,
        "printer": config.printer,
        "gpio": config.gpio,
        "watchdog": config.watchdog,
    }
    for device, section in fitted.items():
        if section is None:
            rows.append(CheckResult(device, "fitted", "skip", "not in this station's config"))
            continue
        if hardware is None:
            rows.append(CheckResult(device, "open", "skip", "not opened by this process"))
            continue
        rows.append(CheckResult(device, "live", *_live_state(device, figures)))
    return rows


def _live_state(device: str, figures: dict[str, float]) -> tuple[str, str]:
    if device == "card reader":
        readers = int(figures.get("card_readers", 0))
        return ("ok" if readers else "fail"), f"{readers} reader(s) seen by pcscd"
    if device == "printer":
        state = figures.get("printer_state")
        return ("ok" if state == 0 else "warn"), f"printer state code {state}"
    if device == "gpio":
        open_ = figures.get("tamper_open")
        return ("warn" if open_ else "ok"), f"enclosure {'open' if open_ else 'closed'}"
    link = figures.get("watchdog_link_ok")
    return ("ok" if link else "fail"), f"watchdog link {'answering' if link else 'silent'}"


def _outbox(station: Station, now: datetime) -> dict[str, Any]:
    backlog = station.store.outbox.backlog()
    age = backlog.oldest_age_s(now)
    figures: dict[str, Any] = {
        "pending": backlog.pending,
        "rejected": backlog.rejected,
        "oldest_pending_age_s": round(age, 1) if age is not None else None,
        "schema_version": station.store.schema_version,
        "petition_serial": station.store.serial("petition"),
    }
    counts = station.receipts.counts()
    figures["receipts_queued"] = counts.get("queued", 0)
    figures["receipts_failed"] = counts.get("failed", 0)
    return figures


def _replica(station: Station) -> dict[str, Any]:
    if station.replica is None:
        return {"enabled": False}
    state = station.replica.state
    return {
        "enabled": station.replica.enabled,
        "building": state.building,
        "records": state.records,
        "cursor": state.cursor,
        "as_of": state.as_of.isoformat() if state.as_of else None,
        "updated_at": state.updated_at.isoformat() if state.updated_at else None,
        "wiped": state.wiped,
        "last_refusal": state.last_refusal,
    }


def _disk(station: Station) -> dict[str, Any]:
    data_dir = Path(station.config.data_dir)
    usage = shutil.disk_usage(data_dir)
    store = station.config.store_path
    wal = store.with_name(store.name + "-wal")

    def mib(path: Path) -> float | None:
        try:
            return round(path.stat().st_size / 2**20, 2)
        except OSError:
            return None

    return {
        "free_pct": round(100.0 * usage.free / usage.total, 1),
        "free_mib": round(usage.free / 2**20, 1),
        "total_mib": round(usage.total / 2**20, 1),
        "store_mib": mib(store),
        "wal_mib": mib(wal),
    }


def _clock(station: Station, now: datetime) -> dict[str, Any]:
    synchronized, source = ntp_state()
    offset = station.sync.server_clock_offset_s
    return {
        "station_time": now.isoformat(),
        "ntp_synchronized": synchronized,
        "ntp_source": source,
        "server_offset_s": round(offset, 3) if offset is not None else None,
        "offset_source": "the server's last ack" if offset is not None else None,
    }


def ntp_state() -> tuple[bool | None, str]:
    """Whether systemd says the clock is NTP-synchronised (``None``: it cannot say)."""
    timedatectl = shutil.which("timedatectl")
    if timedatectl is None:
        return None, "no timedatectl"
    started = time.monotonic()
    try:
        done = subprocess.run(
            [timedatectl, "show", "--property=NTPSynchronized", "--value"],
            capture_output=True,
            text=True,
            timeout=5,
            check=False,
            env={**os.environ, "LC_ALL": "C"},
        )
    except (OSError, subprocess.TimeoutExpired):
        return None, "timedatectl did not answer"
    answer = done.stdout.strip()
    if done.returncode != 0 or answer not in ("yes", "no"):
        return None, f"timedatectl unavailable ({time.monotonic() - started:.1f} s)"
    return answer == "yes", "timedatectl"
