"""`make demo` end to end: the fleet starts, a petition syncs, everything stops by pid."""

from __future__ import annotations

import http.client
import http.cookiejar
import json
import re
import signal
import subprocess
import sys
import urllib.parse
import urllib.request
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
    # The first station's card was pulled and inserted again through `dcs-demo card`.
    assert "st-lobby-a: card pulled" in result.stdout
    assert "st-lobby-a: card inserted" in result.stdout
    assert "stopped cleanly" in result.stdout
    root = tmp_path / "demo"
    # The technician's self-test ran on the virtual hardware, through the real pcscd.
    assert "self-test passed" in result.stdout
    assert "Virtual PCD 00 00 (real)" in result.stdout
    # The petition's receipt came out of the station's virtual printer, drawn as a PNG.
    receipt = root / "st-lobby-a-receipt.png"
    assert receipt.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # The daemon saw its card through pcscd.
    station_log = (root / "st-lobby-a.log").read_text()
    assert station_log.count("card inserted in Virtual PCD 00 00") == 2
    assert "card removed in Virtual PCD 00 00" in station_log
    # No personal data in any log: not the phone, not the card holders' ids or names.
    holders = [json.loads(card.read_text("utf-8"))["resident"] for card in root.glob("cards/*")]
    assert len(holders) == 2
    for log in root.glob("*.log"):
        text = log.read_text()
        assert "0812345678" not in text
        for holder in holders:
            assert holder["citizen_id"] not in text
            assert holder["name_en"]["last"] not in text


def _groups_and_pids_alive(recorded: set[int]) -> list[str]:
    """Processes that are one of ``recorded`` or in a process group led by one of them."""
    alive = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:  # it exited while we looked
            continue
        pid = int(stat.parent.name)
        state, _ppid, pgid = text.rpartition(")")[2].split()[:3]
        if state != "Z" and (pid in recorded or int(pgid) in recorded):
            alive.append(f"{pid} (group {pgid}): {text.split(')')[0]})")
    return alive


def _open_dashboard_stream(web: str, password: str) -> http.client.HTTPResponse:
    """Log in as the demo's operations account (changing its one-time password, as the
    first login must) and open the dashboard's server-sent events."""
    opener = urllib.request.build_opener(
        urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar())
    )

    def post(path: str, **form: str) -> None:
        page = opener.open(web + path).read().decode()
        form["csrf_token"] = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
        opener.open(web + path, urllib.parse.urlencode(form).encode()).read()

    post("/login", username="demo-operations", password=password)
    new = "Correct-Horse-Battery-9431"
    post("/account/password", current_password=password, new_password=new, confirm_password=new)
    stream = opener.open(web + "/dashboard/events", timeout=30)
    assert stream.headers.get_content_type() == "text/event-stream"
    assert stream.readline()  # the stream is open and served by a gunicorn worker
    return stream


def test_demo_stops_every_process_it_started_on_sigterm(tmp_path):
    """SIGTERM with a dashboard's event stream held open in a gunicorn worker: no process
    the demo started is left, the worker included."""
    root = tmp_path / "demo"
    demo = subprocess.Popen(
        [str(Path(sys.executable).parent / "dcs-demo"), "--root", str(root), "--residents", "20"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    output: list[str] = []
    try:
        assert demo.stdout is not None
        for line in demo.stdout:
            output.append(line)
            if "Ctrl-C stops everything" in line:
                break
        text = "".join(output)
        assert "Ctrl-C stops everything" in text, text
        assert "dcs-demo card pull --station st-lobby-b" in text
        web = re.search(r"(http://127\.0\.0\.1:\d+)/api/v1/stations", text)
        password = re.search(r"demo-operations / (\S+)", text)
        assert web is not None and password is not None, text
        stream = _open_dashboard_stream(web.group(1), password.group(1))
        recorded = {
            int(line.split()[1])
            for line in (root / "processes.txt").read_text().splitlines()
            if line.strip()
        }
        assert len(recorded) >= 12  # broker, pcscd, the server's processes, the stations
        demo.send_signal(signal.SIGTERM)
        rest, _ = demo.communicate(timeout=120)
        stream.close()
    finally:
        if demo.poll() is None:
            demo.kill()
            demo.wait()
    assert demo.returncode == 0, "".join(output) + rest
    assert "stopped cleanly" in rest
    assert _groups_and_pids_alive(recorded) == []
