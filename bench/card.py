"""Thai ID card reads through the real stack: pcscd + vsmartcard's vpcd + the virtual card.

Over a number of inserts of the virtual card process (each a new process: starting it inserts
the card, stopping it pulls it), measured from the reader's ``inserted`` event (settle delay
0) to the text record ready, and to the photo ready; with the APDUs and bytes each moved.

The raw baseline is the bare APDU round trip through the same pcscd to the same card
(``SCardTransmit`` of a SELECT, nothing else), measured in the same run: a read can be no
faster than its APDU count times that, so the ratio says what the protocol code, the
transactions and the decoding add on top.

A second, shorter series runs the card without ``TCP_QUICKACK`` (the stock behaviour): the
Debian vpcd sends each frame's length and payload in two writes, and Nagle plus delayed ACKs
then stall every APDU ~40 ms. That is the figure THAI_ID_CARD.md measured (about 50 ms per
APDU); the card process avoids it by default.
"""

from __future__ import annotations

import argparse
import queue
import shutil
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.common import Row, machine_header, print_table
from devtools.cardstack import LocalPcscd, VirtualCardProcess
from devtools.synthetic import write_card_files
from hardware.card import CardConfig, CardEvent, ThaiIdCardReader, apdu
from hardware.card.pcsc import PcscTransport

GUARD_S = 30.0


def percentile(values: list[float], pct: int) -> float:
    """The ``pct``-th percentile (inclusive method; the median for 50)."""
    if len(values) == 1:
        return values[0]
    if pct == 50:
        return statistics.median(values)
    return statistics.quantiles(values, n=100, method="inclusive")[pct - 1]


def raw_round_trip(reader_name: str, count: int) -> list[float]:
    """Seconds per bare ``SCardTransmit`` (SELECT) to the card in ``reader_name``."""
    transport = PcscTransport()
    try:
        with transport.connect(reader_name) as link:
            link.transmit(apdu.SELECT_THAI_ID)  # warm up
            samples = []
            for _ in range(count):
                start = time.perf_counter()
                link.transmit(apdu.SELECT_THAI_ID)
                samples.append(time.perf_counter() - start)
            return samples
    finally:
        transport.close()


def insert_series(
    pcscd: LocalPcscd, card_files: list[Path], inserts: int, options: list[str], rtt_count: int
) -> dict[str, Any]:
    """``inserts`` insert/read/photo/pull cycles; times in ms, APDUs and bytes per read."""
    events: queue.Queue[CardEvent] = queue.Queue()
    config = CardConfig(backend="real", reader_filter="Virtual PCD", settle_s=0.0, poll_s=0.5)
    text_ms, photo_ms, detect_ms = [], [], []
    stats: dict[str, Any] = {}
    rtt: list[float] = []
    with ThaiIdCardReader(config) as reader:
        reader.when_inserted = events.put
        reader.wait_for_scan(GUARD_S)
        for n in range(inserts):
            card = VirtualCardProcess(card_files[n % len(card_files)], pcscd.slot_port(0), options)
            started = time.monotonic()
            card.start()
            try:
                event = events.get(timeout=GUARD_S)
                reader.read()
                text_done = time.monotonic()
                text_stats = reader.last_stats
                reader.read_photo()
                photo_done = time.monotonic()
                photo_stats = reader.last_stats
                if n == 0 and rtt_count:
                    rtt = raw_round_trip(event.reader, rtt_count)
            finally:
                card.stop()
            if not reader.wait_for_removal(GUARD_S):
                raise RuntimeError("the card was never seen removed")
            detect_ms.append((event.at - started) * 1000)
            text_ms.append((text_done - event.at) * 1000)
            photo_ms.append((photo_done - event.at) * 1000)
            assert text_stats is not None and photo_stats is not None
            stats = {
                "apdus_text": text_stats.apdus,
                "bytes_text": text_stats.bytes_sent + text_stats.bytes_received,
                "apdus_photo": photo_stats.apdus,
                "bytes_photo": photo_stats.bytes_sent + photo_stats.bytes_received,
            }
    rtt_ms = [s * 1000 for s in rtt]
    return {
        "inserts": inserts,
        "text_ms": {"p50": percentile(text_ms, 50), "p95": percentile(text_ms, 95)},
        "photo_ms": {"p50": percentile(photo_ms, 50), "p95": percentile(photo_ms, 95)},
        "insert_to_event_ms": {"p50": percentile(detect_ms, 50), "p95": percentile(detect_ms, 95)},
        "apdu_rtt_ms": {"p50": percentile(rtt_ms, 50), "p95": percentile(rtt_ms, 95)}
        if rtt_ms
        else None,
        **stats,
    }


def rows_for(label: str, series: dict[str, Any]) -> list[Row]:
    """Summary rows: text and photo times against APDUs x the raw round trip."""
    rtt = series["apdu_rtt_ms"]["p50"] if series["apdu_rtt_ms"] else None
    text_floor = rtt * series["apdus_text"] if rtt else None
    photo_floor = rtt * (series["apdus_text"] + series["apdus_photo"]) if rtt else None
    n = series["inserts"]
    rows = [
        Row("card", f"{label}: raw APDU round trip p50", rtt or 0.0, "ms"),
        Row(
            "card",
            f"{label}: text ready p50 ({n} inserts)",
            series["text_ms"]["p50"],
            "ms",
            text_floor,
        ),
        Row("card", f"{label}: text ready p95", series["text_ms"]["p95"], "ms", text_floor),
        Row("card", f"{label}: photo ready p50", series["photo_ms"]["p50"], "ms", photo_floor),
        Row("card", f"{label}: photo ready p95", series["photo_ms"]["p95"], "ms", photo_floor),
        Row("card", f"{label}: insert -> event p50", series["insert_to_event_ms"]["p50"], "ms"),
    ]
    return rows


def run(quick: bool = False) -> dict[str, Any]:
    """Measure and print; returns the figures and the summary ``rows``."""
    inserts, slow_inserts, rtt_count = (6, 2, 200) if quick else (20, 5, 1000)
    workdir = Path(tempfile.mkdtemp(prefix="dcs-bench-card-"))
    pcscd = LocalPcscd(workdir=workdir / "pcscd")
    try:
        card_files = write_card_files(5, workdir / "cards", seed=7)
        pcscd.start()
        fast = insert_series(pcscd, card_files, inserts, [], rtt_count)
        stock = insert_series(pcscd, card_files, slow_inserts, ["--no-quickack"], 30)
    finally:
        pcscd.cleanup()
        shutil.rmtree(workdir, ignore_errors=True)
    rows = rows_for("quickack", fast) + rows_for("stock vpcd", stock)
    print(
        f"card: {fast['apdus_text']} APDUs / {fast['bytes_text']} bytes for the text, "
        f"{fast['apdus_photo']} APDUs / {fast['bytes_photo']} bytes for the photo"
    )
    print_table(rows)
    return {"quickack": fast, "stock_vpcd": stock, "rows": rows}


def main() -> None:
    """``python -m bench.card [--quick]``."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer inserts")
    args = parser.parse_args()
    print(machine_header())
    run(quick=args.quick)


if __name__ == "__main__":
    main()
