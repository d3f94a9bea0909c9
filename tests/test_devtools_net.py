"""devtools/net.py: waiting for a local server to listen, bounded, and not for a dead one."""

from __future__ import annotations

import socket

from devtools.net import free_port, wait_for_port


def test_a_listening_port_is_found_at_once():
    with socket.create_server(("127.0.0.1", 0)) as server:
        assert wait_for_port("127.0.0.1", server.getsockname()[1], attempts=1)


def test_waiting_stops_as_soon_as_the_process_meant_to_listen_has_exited():
    asked = []

    def alive() -> bool:
        asked.append(True)
        return len(asked) < 3  # it exits during the third attempt

    # Nothing listens there: without ``alive`` all 1,000 attempts would be made.
    assert not wait_for_port("127.0.0.1", free_port(), attempts=1000, pause_s=0.01, alive=alive)
    assert len(asked) == 3
