"""The station daemon speaks systemd's notify protocol over a real unix datagram socket."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

from device.sdnotify import SystemdNotifier
from tests.test_crash import station_toml

DAEMON = str(Path(sys.executable).with_name("dcs-station"))


def receive_until(sock: socket.socket, wanted: str, seen: list[str]) -> list[str]:
    while not any(wanted in message for message in seen):
        seen.append(sock.recv(4096).decode())  # the socket's timeout is the hang guard
    return seen


def test_ready_watchdog_and_stopping_reach_systemd(tmp_path, broker):
    address = str(tmp_path / "notify.sock")
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind(address)
        sock.settimeout(30)
        config = station_toml(tmp_path, broker)
        daemon = subprocess.Popen(
            [DAEMON, "run", "--unsigned-config", "--config", str(config)],
            env={**os.environ, "NOTIFY_SOCKET": address},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            seen: list[str] = []
            receive_until(sock, "READY=1", seen)
            assert "STATUS=station st-a running" in seen[0]
            receive_until(sock, "WATCHDOG=1", seen)
            daemon.send_signal(signal.SIGTERM)
            receive_until(sock, "STOPPING=1", seen)
            assert daemon.wait(30) == 0
        finally:
            if daemon.poll() is None:
                daemon.kill()
                daemon.wait()


def test_outside_systemd_it_does_nothing(monkeypatch):
    monkeypatch.delenv("NOTIFY_SOCKET", raising=False)
    notifier = SystemdNotifier()
    assert not notifier.enabled and not notifier.ready()


def test_a_socket_that_went_away_is_a_warning_not_a_crash(tmp_path):
    notifier = SystemdNotifier(str(tmp_path / "gone.sock"))
    assert notifier.enabled and notifier.watchdog() is False
