"""``python -m hardware.card.virtual --resident FILE``: a virtual Thai ID card for pcscd.

Starting the process inserts the card into vsmartcard's vpcd reader (``--port``, 35963 for
the first slot of Debian's ``/etc/reader.conf.d/vpcd``); stopping it (SIGTERM, SIGKILL)
pulls the card. If pcscd goes away the card waits for it and reconnects, like a card left in
a reader whose daemon restarts. Progress lines on stdout carry no card contents.
"""

from __future__ import annotations

import argparse
import signal
import sys
import time
from collections.abc import Sequence

from hardware.card import apdu
from hardware.card.virtual.applet import VirtualThaiIdCard, parse_sw
from hardware.card.virtual.vpcd import CardHangs, VpcdCard, VpcdClosed

RETRY_S = 0.1


def _bad_sw(text: str) -> tuple[str, tuple[int, int]]:
    name, _, sw = text.partition("=")
    if name != "photo" and name not in apdu.FIELDS_BY_NAME:
        choices = ", ".join([*apdu.FIELDS_BY_NAME, "photo"])
        raise argparse.ArgumentTypeError(f"unknown field {name!r}; choose from {choices}")
    try:
        return name, parse_sw(sw or "6F00")
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from exc


def build_parser() -> argparse.ArgumentParser:
    """The command line."""
    parser = argparse.ArgumentParser(prog="python -m hardware.card.virtual", description=__doc__)
    parser.add_argument("--resident", required=True, help="card file (JSON) to serve")
    parser.add_argument("--host", default="127.0.0.1", help="vpcd's address")
    parser.add_argument("--port", type=int, default=35963, help="vpcd slot port")
    parser.add_argument("--atr-variant", choices=sorted(apdu.ATR_VARIANTS), default="default")
    parser.add_argument(
        "--fail-after-apdus", type=int, metavar="N", help="pull the card after answering N APDUs"
    )
    parser.add_argument(
        "--hang-after-apdus", type=int, metavar="N", help="stop answering after N APDUs"
    )
    parser.add_argument(
        "--bad-sw",
        type=_bad_sw,
        action="append",
        default=[],
        metavar="FIELD[=SW]",
        help="answer FIELD's READ BINARY with status SW (default 6F00); repeatable",
    )
    parser.add_argument(
        "--no-applet", action="store_true", help="a card without the Thai ID applet"
    )
    parser.add_argument(
        "--no-quickack",
        action="store_true",
        help="leave delayed ACKs on (vpcd then stalls about 40 ms per APDU)",
    )
    parser.add_argument(
        "--once", action="store_true", help="exit when vpcd closes instead of reconnecting"
    )
    return parser


def _say(line: str) -> None:
    print(line, flush=True)


def main(argv: Sequence[str] | None = None) -> int:
    """Serve the card until stopped; returns the exit code."""
    args = build_parser().parse_args(argv)
    try:
        card = VirtualThaiIdCard.from_card_file(
            args.resident,
            args.atr_variant,
            bad_sw=dict(args.bad_sw),
            has_applet=not args.no_applet,
        )
    except (OSError, ValueError, KeyError) as exc:
        print(f"cannot load card file: {exc}", file=sys.stderr)
        return 2

    def stop(signum: int, frame: object) -> None:
        raise SystemExit(0)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    vpcd = VpcdCard(
        card,
        args.host,
        args.port,
        quickack=not args.no_quickack,
        fail_after_apdus=args.fail_after_apdus,
        hang_after_apdus=args.hang_after_apdus,
        on_event=_say,
    )
    try:
        while True:
            try:
                vpcd.connect()
            except OSError:
                time.sleep(RETRY_S)  # vpcd not listening yet (pcscd starting or restarting)
                continue
            try:
                vpcd.serve()
            except VpcdClosed:
                vpcd.close()
                _say("vpcd closed")
                if args.once:
                    return 0
                continue
            except CardHangs:
                while True:  # keep the socket open and silent until killed
                    signal.pause()
            return 0  # told to fail: the socket is closed, the card is out
    finally:
        vpcd.close()


if __name__ == "__main__":
    sys.exit(main())
