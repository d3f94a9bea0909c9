"""`make demo` end to end: the fleet starts, a petition syncs, everything stops by pid."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path


def test_demo_check_runs_the_whole_system_and_stops_cleanly(tmp_path):
    demo = Path(sys.executable).parent / "dcs-demo"
    result = subprocess.run(
        [str(demo), "--check", "--root", str(tmp_path / "demo"), "--residents", "20"],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "check passed: P-ST-LOBBY-A-0000001-" in result.stdout
    assert "stopped cleanly" in result.stdout
    for log in (tmp_path / "demo").glob("*.log"):
        assert "0812345678" not in log.read_text()  # no personal data in any log
