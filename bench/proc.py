"""Child processes of the sync benchmark: simulated stations and the raw MQTT baseline.

Each role runs in its own process so that its RSS is its own and it has its own GIL, as on
a real deployment. A role talks to the parent on stdin/stdout, one JSON object or word per
line: it prints ``READY`` when set up, waits for ``GO``, and prints its result as JSON.
Times are ``time.monotonic()``, which is one clock for every process on Linux.

    python -m bench.proc stations SPEC.json
    python -m bench.proc raw-sub SETTINGS.json TOPIC COUNT
    python -m bench.proc raw-pub SETTINGS.json TOPIC COUNT SIZE
    python -m bench.proc watch SETTINGS.json TOPIC [TOPIC...]

``SETTINGS.json`` holds :class:`contract.transport.BrokerSettings` fields (a password or a
TLS certificate) and ``client_id``.
"""

from __future__ import annotations

import json
import os
import random
import sys
import threading
import time
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.subscribeoptions import SubscribeOptions

from bench.common import petition_body
from contract.transport import QOS, BrokerSettings, connect_properties, new_client
from device.config import config_from_dict
from device.station import Station, build_station

#: Enqueues per commit while pre-filling (the prefill is not timed; only the drain is).
PREFILL_CHUNK = 1000
#: A hang guard for the benchmark, not a figure: far above any drain seen.
DEADLINE_S = 900.0


def say(value: str | dict[str, Any]) -> None:
    """One line to the parent."""
    print(value if isinstance(value, str) else json.dumps(value), flush=True)


def wait_for(word: str) -> None:
    """Block until the parent sends ``word`` (or closes our stdin)."""
    for line in sys.stdin:
        if line.strip() == word:
            return
    raise SystemExit(f"parent went away before {word}")


# --- simulated stations --------------------------------------------------------------------


def prefill(station: Station, count: int, rng: random.Random) -> None:
    """Queue ``count`` realistic petitions through the real outbox, many per commit."""
    store = station.store
    station_id = station.config.station_id
    serial = 0
    while serial < count:
        with store.atomic():
            for _ in range(min(PREFILL_CHUNK, count - serial)):
                serial += 1
                store.outbox.enqueue("petition.filed", petition_body(station_id, serial, rng))


def run_stations(spec_path: str) -> None:
    """Build the stations of the spec, pre-fill them, then drain on ``GO``."""
    with open(spec_path) as handle:
        spec = json.load(handle)
    stations = [build_station(config_from_dict(config)) for config in spec["configs"]]
    counts: list[int] = spec["counts"]
    rng = random.Random(spec.get("seed", 0))
    try:
        for station, count in zip(stations, counts, strict=True):
            prefill(station, count, rng)
            assert station.store.outbox.backlog().pending == count
        say("READY")
        wait_for("GO")
        started = time.monotonic()
        for station in stations:
            station.start()
        total = sum(counts)
        drainers = [station.sync.drainer for station in stations]
        # The agents count what the server's acks settled; the store is checked after.
        while sum(d.settled for d in drainers) < total:
            if time.monotonic() - started > DEADLINE_S:
                break
            time.sleep(0.01)
        done = time.monotonic()
        pending = sum(station.store.outbox.backlog().pending for station in stations)
        say(
            {
                "started": started,
                "done": done,
                "pending": pending,
                "published": sum(d.published for d in drainers),
                "messages": sum(d.messages for d in drainers),
                "settled": sum(d.settled for d in drainers),
            }
        )
        wait_for("STOP")
    finally:
        for station in stations:
            station.close()


# --- the raw baseline: paho publisher -> broker -> paho subscriber, no database ------------


def _settings(settings_path: str) -> tuple[str, BrokerSettings]:
    """The client id and :class:`BrokerSettings` of a JSON settings file."""
    with open(settings_path) as handle:
        spec = json.load(handle)
    client_id = spec.pop("client_id")
    for name in ("ca_file", "cert_file", "key_file"):
        spec[name] = Path(spec[name]) if spec.get(name) else None
    return client_id, BrokerSettings(**spec)


def _raw_client(settings_path: str) -> mqtt.Client:
    """A paho client from a JSON file of :class:`BrokerSettings` fields and a client id."""
    client_id, settings = _settings(settings_path)
    client = new_client(client_id, settings)
    connected = threading.Event()
    client.on_connect = lambda *args: connected.set()
    client.connect(settings.host, settings.port)
    client.loop_start()
    if not connected.wait(30):
        raise SystemExit("the raw client could not connect")
    return client


def run_raw_sub(settings_path: str, topic: str, count: str) -> None:
    """Count ``count`` messages on ``topic``; report when the last one arrived."""
    expected = int(count)
    received = 0
    last = 0.0
    done = threading.Event()
    subscribed = threading.Event()

    def on_message(client, userdata, message) -> None:
        nonlocal received, last
        received += 1
        if received >= expected:
            last = time.monotonic()
            done.set()

    client = _raw_client(settings_path)
    client.on_message = on_message
    client.on_subscribe = lambda *args: subscribed.set()
    client.subscribe(topic, options=SubscribeOptions(qos=QOS))
    subscribed.wait(30)
    say("READY")
    done.wait(DEADLINE_S)
    say({"received": received, "last": last})
    client.disconnect()
    client.loop_stop()


def run_raw_pub(settings_path: str, topic: str, count: str, size: str) -> None:
    """On ``GO``, publish ``count`` QoS 1 messages of ``size`` bytes as fast as paho takes them."""
    expected = int(count)
    acked = 0
    all_acked = threading.Event()

    def on_publish(client, userdata, mid, reason_code, properties) -> None:
        nonlocal acked
        acked += 1
        if acked >= expected:
            all_acked.set()

    client = _raw_client(settings_path)
    client.on_publish = on_publish
    payload = os.urandom(int(size) // 2).hex().encode()[: int(size)]
    say("READY")
    wait_for("GO")
    started = time.monotonic()
    for _ in range(expected):
        client.publish(topic, payload, qos=QOS)
    all_acked.wait(DEADLINE_S)
    say({"started": started, "acked": acked, "all_acked": time.monotonic()})
    client.disconnect()
    client.loop_stop()


def run_watch(settings_path: str, *topics: str) -> None:
    """Note when each message on ``topics`` passes the broker, until ``STOP``.

    A bystander on a connection of its own (bench/city.py): when it sees a station's lookup
    and the server's reply, the broker had them then, so a kiosk that gets the reply later
    lost the time on the broker's way to it. Reconnects at once after a broker restart,
    with a persistent session so nothing passes unseen while it does.
    """
    seen: list[tuple[float, str]] = []
    lock = threading.Lock()
    subscribed = threading.Event()

    def on_message(client, userdata, message) -> None:
        now = time.monotonic()
        with lock:
            seen.append((now, message.topic))

    def on_connect(client, userdata, flags, reason_code, properties) -> None:
        client.subscribe([(topic, SubscribeOptions(qos=QOS)) for topic in topics])

    client_id, settings = _settings(settings_path)
    client = new_client(client_id, settings)
    client.reconnect_delay_set(0.05, 0.5)
    client.on_message = on_message
    client.on_connect = on_connect
    client.on_subscribe = lambda *args: subscribed.set()
    client.connect(settings.host, settings.port, clean_start=False, properties=connect_properties())
    client.loop_start()
    if not subscribed.wait(30):
        raise SystemExit("the watcher could not subscribe")
    say("READY")
    wait_for("STOP")
    with lock:
        say({"seen": seen})
    client.disconnect()
    client.loop_stop()


def main(argv: list[str]) -> None:
    """Dispatch to a role."""
    role, args = argv[0], argv[1:]
    if role == "stations":
        run_stations(*args)
    elif role == "raw-sub":
        run_raw_sub(*args)
    elif role == "raw-pub":
        run_raw_pub(*args)
    elif role == "watch":
        run_watch(*args)
    else:
        raise SystemExit(f"unknown role {role!r}")


if __name__ == "__main__":
    main(sys.argv[1:])
