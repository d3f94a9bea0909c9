"""Live lookups during ``bench/city.py``, asked the way a kiosk asks them.

Each prober station runs the station's own link and lookup code (``device/sync/link.py``,
``device/sync/lookup.py``: one paho connection with its certificate, reconnecting with the
fleet's backoff), in a process of its own: a real kiosk is a machine of its own, not one of
2,500 clients sharing a busy event loop, whose delays would be counted as the server's.

    python -m bench.city_lookups SPEC.json

Words on stdin: ``GO`` starts asking ``lookups_per_s`` (each prober at most twice: the
server's foreign-lookup budget is 3 an hour); ``REPORT`` prints the figures as JSON;
``STOP`` ends.
"""

from __future__ import annotations

import json
import random
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from contract.transport import BrokerSettings
from device.config import SyncConfig
from device.errors import LookupTimeoutError, ServerUnavailableError
from device.store import utc_now
from device.sync.backoff import Backoff
from device.sync.link import Link
from device.sync.lookup import Lookups

PER_STATION = 2


def main(spec_path: str) -> None:
    """Connect the probers, then ask on ``GO`` until ``REPORT``."""
    spec = json.loads(Path(spec_path).read_text())
    config = SyncConfig()
    links, askers = [], []
    for station_id in spec["stations"]:
        settings = BrokerSettings(
            host=spec["host"],
            port=spec["port"],
            ca_file=Path(spec["ca_file"]),
            cert_file=Path(spec["cert_dir"]) / f"{station_id}.crt.pem",
            key_file=Path(spec["cert_dir"]) / f"{station_id}.key.pem",
        )
        backoff = Backoff(
            config.reconnect_initial_s, config.reconnect_max_s, spread=config.reconnect_spread_s
        )
        link = Link(station_id, settings, software_version="bench", clock=utc_now, backoff=backoff)
        askers.append(Lookups(link, timeout_s=config.lookup_timeout_s))
        links.append(link)
        link.start()
    deadline = time.monotonic() + 120
    while not all(link.connected for link in links) and time.monotonic() < deadline:
        time.sleep(0.05)
    print("READY", flush=True)

    latencies: list[float] = []
    statuses: dict[str, int] = {}
    #: (seconds after GO it was asked, its status): when the slow ones were asked.
    asked_at: list[tuple[float, str]] = []
    #: (station, asked, ended, status) in ``time.monotonic()``, one clock for every process:
    #: bench/city.py sets them beside when a bystander saw the request and the reply pass.
    asks: list[tuple[str, float, float, str]] = []
    go = [0.0]
    lock = threading.Lock()
    asked = [0] * len(links)
    stop = threading.Event()
    rng = random.Random(7)
    citizens = spec["citizen_ids"]

    def ask(index: int) -> None:
        started = time.monotonic()
        try:
            status = askers[index].insured_summary(rng.choice(citizens)).status
        except LookupTimeoutError:
            status = "timeout"
        except ServerUnavailableError:
            status = "link_lost"
        ended = time.monotonic()
        with lock:
            statuses[status] = statuses.get(status, 0) + 1
            latencies.append(ended - started)
            asked_at.append((round(started - go[0], 1), status))
            asks.append((spec["stations"][index], started, ended, status))

    def run() -> None:
        with ThreadPoolExecutor(max_workers=64) as pool:
            while not stop.wait(rng.expovariate(spec["lookups_per_s"])):
                ready = [
                    i for i in range(len(links)) if links[i].connected and asked[i] < PER_STATION
                ]
                if ready:
                    index = rng.choice(ready)
                    asked[index] += 1
                    pool.submit(ask, index)

    asking: threading.Thread | None = None
    for line in sys.stdin:
        word = line.strip()
        if word == "GO":
            go[0] = time.monotonic()
            asking = threading.Thread(target=run, daemon=True)
            asking.start()
        elif word == "REPORT":
            stop.set()
            if asking is not None:
                asking.join()
            with lock:
                report = {
                    "latency_s": latencies,
                    "status": statuses,
                    "asked_at": asked_at,
                    "asks": asks,
                    "late_replies": sum(asker.late_replies for asker in askers),
                }
                print(json.dumps(report), flush=True)
        elif word == "STOP":
            break
    for link in links:
        link.stop()


if __name__ == "__main__":
    main(sys.argv[1])
