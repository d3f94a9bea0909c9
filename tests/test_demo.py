"""`make demo` end to end: the fleet starts, a petition syncs, everything stops by pid."""

from __future__ import annotations

import json
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
    root = tmp_path / "demo"
    # The technician's self-test ran on the virtual hardware, through the real pcscd.
    assert "self-test passed" in result.stdout
    assert "Virtual PCD 00 00 (real)" in result.stdout
    # The petition's receipt came out of the station's virtual printer, drawn as a PNG.
    receipt = root / "st-lobby-a-receipt.png"
    assert receipt.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # The daemon saw its card through pcscd.
    assert "card inserted in Virtual PCD 00 00" in (root / "st-lobby-a.log").read_text()
    # No personal data in any log: not the phone, not the card holders' ids or names.
    holders = [json.loads(card.read_text("utf-8"))["resident"] for card in root.glob("cards/*")]
    assert len(holders) == 2
    for log in root.glob("*.log"):
        text = log.read_text()
        assert "0812345678" not in text
        for holder in holders:
            assert holder["citizen_id"] not in text
            assert holder["name_en"]["last"] not in text
