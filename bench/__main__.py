"""``python -m bench [--quick] [--only outbox,sync]``: every benchmark, then a summary table.

Each figure comes with a raw baseline measured in the same run, and the ratio between them;
the targets are printed beside them, never asserted. Figures move with the machine's load:
the header says what the machine is and how busy it was when the run started.
"""

from __future__ import annotations

import argparse
import os
import time

from bench import card, city, dashboard, kiosk, outbox, provision, records, sync, update
from bench.common import Row, machine_header, print_table

BENCHES = {
    "outbox": outbox.run,
    "sync": sync.run,
    "city": city.run,
    # bench.card returns its figures too; the summary needs only its rows.
    "card": lambda quick: card.run(quick=quick)["rows"],
    "records": records.run,
    "kiosk": kiosk.run,
    "dashboard": dashboard.run,
    "provision": provision.run,
    "update": update.run,
}


def main() -> None:
    """Run the benchmarks and print the summary."""
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller runs (about a minute)")
    parser.add_argument("--only", help=f"comma-separated: {', '.join(BENCHES)}")
    args = parser.parse_args()
    chosen = args.only.split(",") if args.only else list(BENCHES)
    unknown = set(chosen) - set(BENCHES)
    if unknown:
        parser.error(f"unknown benchmark(s): {', '.join(sorted(unknown))}")

    print(machine_header())
    load = ", ".join(f"{value:.2f}" for value in os.getloadavg())
    print(f"load    : {load} (1, 5, 15 min) at the start{' - quick run' if args.quick else ''}")
    print()
    started = time.monotonic()
    rows: list[Row] = []
    for name in chosen:
        rows += BENCHES[name](quick=args.quick)
        print()
    print(f"summary ({time.monotonic() - started:.0f} s):")
    print_table(rows)


if __name__ == "__main__":
    main()
