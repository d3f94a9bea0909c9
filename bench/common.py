"""What the benchmarks share: result rows, the machine header, realistic bodies, RSS sampling."""

from __future__ import annotations

import os
import platform
import random
import re
import sqlite3
import statistics
import subprocess
import sys
import threading
from dataclasses import dataclass, field
from typing import Any

import psutil

from device.store.ids import petition_number
from devtools.synthetic import synthetic_citizen_id

#: A realistic petition as a lobby kiosk files it (Thai text is 3 bytes a character in UTF-8).
_SUBJECTS = (
    "ไฟทางเดินดับหน้าอาคาร 3 ชั้น 2",
    "ขอแก้ไขที่อยู่ตามทะเบียนบ้านใหม่",
    "ขอเปลี่ยนโรงพยาบาลตามสิทธิประกันสังคม",
    "ท่อน้ำรั่วบริเวณลานจอดรถด้านหลัง",
)
_DETAIL = (
    "เรียนเจ้าหน้าที่ ข้าพเจ้าขอแจ้งปัญหาดังกล่าวซึ่งเกิดขึ้นมาแล้วประมาณสองสัปดาห์ "
    "ทำให้ผู้พักอาศัยได้รับความไม่สะดวกในการสัญจรช่วงกลางคืน จึงเรียนมาเพื่อโปรดพิจารณาดำเนินการ"
)


def petition_body(station_id: str, serial: int, rng: random.Random) -> dict[str, Any]:
    """The body of a ``petition.filed`` transaction, shaped like ``Station.file_petition``'s."""
    return {
        "number": petition_number(station_id, serial),
        "service": "general_petition",
        "phone": f"08{rng.randrange(10**8):08d}",
        "citizen_id": synthetic_citizen_id(rng),
        "form": {
            "subject": rng.choice(_SUBJECTS),
            "detail": _DETAIL,
            "building": f"อาคาร {rng.randrange(1, 9)}",
            "contact_time": "09:00-16:00",
        },
    }


@dataclass
class Row:
    """One line of the summary: a figure, its raw baseline and the ratio between them."""

    bench: str
    figure: str
    value: float
    unit: str
    baseline: float | None = None
    target: str = ""
    ok: bool | None = None

    @property
    def ratio(self) -> float | None:
        """``value / baseline`` when there is a baseline."""
        if not self.baseline:
            return None
        return self.value / self.baseline


def fmt(value: float | None, unit: str = "") -> str:
    """A number with thousands separators and at most one decimal."""
    if value is None:
        return "-"
    if abs(value) >= 100:
        text = f"{value:,.0f}"
    else:
        text = f"{value:.1f}" if abs(value) >= 10 else f"{value:.2f}"
    return f"{text} {unit}".strip()


def print_table(rows: list[Row]) -> None:
    """The summary table, one row per figure."""
    headers = ("bench", "figure", "value", "raw baseline", "ratio", "target", "")
    lines = [
        (
            row.bench,
            row.figure,
            fmt(row.value, row.unit),
            fmt(row.baseline, row.unit) if row.baseline else "",
            f"{row.ratio:.2f}" if row.ratio is not None else "",
            row.target,
            {True: "ok", False: "SHORT", None: ""}[row.ok],
        )
        for row in rows
    ]
    widths = [max(len(str(x)) for x in col) for col in zip(headers, *lines, strict=True)]
    rule = "  ".join("-" * w for w in widths)
    print(rule)
    print("  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)))
    print(rule)
    for line in lines:
        print("  ".join(str(x).ljust(w) for x, w in zip(line, widths, strict=True)))
    print(rule)


def mosquitto_version() -> str:
    """``mosquitto version X`` as the binary reports it."""
    try:
        out = subprocess.run(
            ["mosquitto", "-h"], capture_output=True, text=True, timeout=10, check=False
        ).stdout
    except (OSError, subprocess.TimeoutExpired):
        return "not found"
    match = re.search(r"mosquitto version (\S+)", out)
    return match.group(1) if match else "unknown"


def cpu_model() -> str:
    """The CPU's model name from /proc/cpuinfo (Linux), else the platform's idea of it."""
    try:
        with open("/proc/cpuinfo") as handle:
            for line in handle:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def machine_header() -> str:
    """A few lines naming the machine, so figures from different runs are not mixed up."""
    mem = psutil.virtual_memory().total / 2**30
    return "\n".join(
        [
            f"machine : {platform.node()} - {os.cpu_count()} CPUs ({cpu_model()}), {mem:.1f} GiB",
            f"os      : {platform.platform()}",
            f"python  : {sys.version.split()[0]} ({sys.executable})",
            f"sqlite  : {sqlite3.sqlite_version}    mosquitto: {mosquitto_version()}",
        ]
    )


@dataclass
class RssSampler:
    """Samples the resident set size of some processes on a background thread.

    It also adds up the CPU time each role used between :meth:`start` and :meth:`stop`,
    which tells which process is the bottleneck.

    Sampling from outside (psutil) sees each role's process on its own, and costs the
    measured processes nothing.
    """

    pids: dict[str, list[int]]
    interval_s: float = 0.2
    samples: dict[str, list[int]] = field(default_factory=dict)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def start(self) -> RssSampler:
        """Start sampling."""
        self._procs = {
            role: [psutil.Process(pid) for pid in pids] for role, pids in self.pids.items()
        }
        self.samples = {role: [] for role in self.pids}
        self._cpu_start = {role: self._cpu(role) for role in self.pids}
        self.cpu_s: dict[str, float] = {}
        self._thread = threading.Thread(target=self._run, name="rss-sampler", daemon=True)
        self._thread.start()
        return self

    def sample(self) -> None:
        """Take one sample now: per role, the largest RSS among its processes."""
        for role, procs in self._procs.items():
            values = []
            for proc in procs:
                try:
                    values.append(proc.memory_info().rss)
                except psutil.Error:
                    continue  # it exited; its last samples stand
            if values:
                self.samples[role].append(max(values))

    def _cpu(self, role: str) -> float:
        total = 0.0
        for proc in self._procs[role]:
            try:
                times = proc.cpu_times()
            except psutil.Error:
                continue
            total += times.user + times.system + times.children_user + times.children_system
        return total

    def _run(self) -> None:
        while not self._stop.is_set():
            self.sample()
            self._stop.wait(self.interval_s)

    def stop(self) -> None:
        """Stop sampling (taking a last sample)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        self.sample()
        self.cpu_s = {role: self._cpu(role) - self._cpu_start[role] for role in self.pids}

    def peak(self, role: str) -> int:
        """The largest sample of ``role`` in bytes."""
        return max(self.samples[role], default=0)

    def low(self, role: str) -> int:
        """The smallest sample of ``role`` in bytes."""
        return min(self.samples[role], default=0)


def mib(value: float) -> float:
    """Bytes to MiB."""
    return value / 2**20


def percentile(values: list[float], share: float) -> float:
    """The ``share`` quantile (0-1) of ``values``; 0 when there are none."""
    if not values:
        return 0.0
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[round(share * 100) - 1]
