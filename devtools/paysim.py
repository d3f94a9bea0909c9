"""Simulated billers, insurance product and bank for the demo and the tests (never product).

``python -m devtools.paysim billers --port N`` serves, on loopback, the biller adapter's HTTP
interface (``sync_server/bills/billers.py``) for five billers under ``/<name>``
(electricity, water, internet, telecom, tuition) and the insurance product's under
``/insurance``. Each customer id gets reproducible bills (electricity and water always, the
others for some ids); a paid bill leaves the list. Quotes are for a household of 1 to 4.

``python -m devtools.paysim bank --port N --webhook URL --secret-file F`` is a bank whose
app "scans" a QR: ``POST /scan`` with ``{"payload": "<the QR's text>"}`` reads the EMVCo
payload (reference, amount, currency), then calls the server's webhook signed with the
shared secret, exactly as ``sync_server/bills/webhook.py`` describes, and answers with what
the webhook said. ``"delay_paid_at_s"`` back-dates or post-dates the payment time.

:class:`PaySim` starts either as a child process on a free port and stops it by pid.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import threading
import urllib.error
import urllib.parse
import urllib.request
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import click

from devtools.net import free_port, wait_for_port

#: Each biller's name as a biller of that country writes it (a Thai utility bills under its
#: Thai name), and every how many customers it has no bill (None: everyone has one).
BILLERS = {
    "electricity": (
        {"THB": "การไฟฟ้านครหลวง (จำลอง)", "VND": "Điện lực Thành phố (mô phỏng)"},
        None,
    ),
    "water": ({"THB": "การประปานครหลวง (จำลอง)", "VND": "Cấp nước Thành phố (mô phỏng)"}, None),
    "internet": ({"THB": "ไฟเบอร์เน็ต (จำลอง)", "VND": "Cáp quang Thành phố (mô phỏng)"}, 2),
    "telecom": ({"THB": "โมบายเทเลคอม (จำลอง)", "VND": "Viễn thông Di động (mô phỏng)"}, 3),
    "tuition": ({"THB": "โรงเรียนเทศบาล (จำลอง)", "VND": "Trường Thành phố (mô phỏng)"}, 5),
}
INSURER = {"THB": "ประกันสุขภาพครัวเรือน (จำลอง)", "VND": "Bảo hiểm Sức khỏe Gia đình (mô phỏng)"}
PLANS = (
    ("basic", Decimal("3900"), Decimal("100000")),
    ("plus", Decimal("7900"), Decimal("300000")),
)


def _seed(customer: str) -> int:
    return int.from_bytes(hashlib.sha256(customer.encode()).digest()[:4], "big")


def bills_of(name: str, customer: str, currency: str, period: str) -> list[dict]:
    """The bill ``name`` has for ``customer`` this ``period`` (none for some billers)."""
    names, every = BILLERS[name]
    label = names[currency]
    seed = _seed(f"{name}:{customer}")
    if every is not None and _seed(customer) % every:
        return []
    if currency == "VND":
        amount = str(Decimal(50_000 + (seed % 900) * 1_000))
    else:
        amount = str(
            (Decimal(150 + seed % 1200) + Decimal(seed % 100) / 100).quantize(Decimal("0.01"))
        )
    year, month = (int(part) for part in period.split("-"))
    return [
        {
            "reference": f"{name[:3].upper()}{seed % 10**8:08d}-{period.replace('-', '')}",
            "kind": name,
            "amount": amount,
            "currency": currency,
            "period": period,
            "due": date(year, month, 28).isoformat(),
            "biller": label,
        }
    ]


class _State:
    def __init__(self, currency: str, period: str) -> None:
        self.currency = currency
        self.period = period
        self.paid: dict[str, str] = {}  # bill reference -> confirmation
        self.policies: dict[str, str] = {}  # payment reference -> policy number
        self.lock = threading.Lock()


def _billers_handler(state: _State) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: object) -> None:
            pass

        def _answer(self, status: int, body: dict) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self) -> None:
            url = urllib.parse.urlsplit(self.path)
            query = urllib.parse.parse_qs(url.query)
            customer = (query.get("customer") or [""])[0]
            parts = url.path.strip("/").split("/")
            if len(parts) == 2 and parts[0] in BILLERS and parts[1] == "bills":
                with state.lock:
                    bills = [
                        bill
                        for bill in bills_of(parts[0], customer, state.currency, state.period)
                        if bill["reference"] not in state.paid
                    ]
                return self._answer(200, {"bills": bills})
            if parts == ["insurance", "quotes"]:
                members = 1 + _seed(customer) % 4
                valid = (date.today() + timedelta(days=30)).isoformat()
                factor = Decimal(25) if state.currency == "VND" else Decimal(1)
                quotes = [
                    {
                        "quote_id": f"Q-{plan}-{_seed(customer) % 10**6:06d}",
                        "plan": plan,
                        "insurer": INSURER[state.currency],
                        "members": members,
                        "amount": str((price * members * factor).quantize(Decimal(1))),
                        "currency": state.currency,
                        "cover": str(cover * factor),
                        "valid_until": valid,
                    }
                    for plan, price, cover in PLANS
                ]
                return self._answer(200, {"quotes": quotes})
            return self._answer(404, {"error": "not_found"})

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", "0"))
            body = json.loads(self.rfile.read(length) or b"{}")
            parts = urllib.parse.urlsplit(self.path).path.strip("/").split("/")
            with state.lock:
                if len(parts) == 2 and parts[0] in BILLERS and parts[1] == "payments":
                    number = state.paid.setdefault(
                        body["reference"], f"{parts[0][:3].upper()}-OK-{len(state.paid) + 1:05d}"
                    )
                    return self._answer(200, {"confirmation": number})
                if parts == ["insurance", "policies"]:
                    policy = state.policies.setdefault(
                        body["payment_reference"], f"HH-{len(state.policies) + 1:06d}"
                    )
                    return self._answer(200, {"policy": policy})
            return self._answer(404, {"error": "not_found"})

    return Handler


def read_payload(payload: str) -> tuple[str, Decimal, str]:
    """Reference, amount and currency of an EMVCo payload, as a bank app reads it."""
    from sync_server.bills import emvco

    fields = emvco.parse(payload)
    currency = {"764": "THB", "704": "VND"}[fields["53"]]
    extra = emvco.split(fields.get("62", ""))
    if "30" in fields:
        reference = emvco.split(fields["30"])["02"]
    else:
        reference = extra.get("08") or extra["05"]
    return reference, Decimal(fields["54"]), currency


def _bank_handler(webhook: str, secret: bytes) -> type[BaseHTTPRequestHandler]:
    from sync_server.bills.webhook import signed_headers

    counter = {"txn": 0}
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: object) -> None:
            pass

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", "0"))
            request = json.loads(self.rfile.read(length) or b"{}")
            reference, amount, currency = read_payload(request["payload"])
            with lock:
                counter["txn"] += 1
                txn = f"SIMBANK-{os.getpid()}-{counter['txn']:06d}"
            paid_at = datetime.now(UTC) + timedelta(
                seconds=float(request.get("delay_paid_at_s", 0))
            )
            body = json.dumps(
                {
                    "reference": reference,
                    "amount": str(amount),
                    "currency": currency,
                    "bank_txn": txn,
                    "paid_at": paid_at.isoformat(),
                }
            ).encode()
            call = urllib.request.Request(  # noqa: S310 - the server's webhook, http on loopback
                webhook, data=body, headers=signed_headers(secret, body)
            )
            try:
                with urllib.request.urlopen(call, timeout=10) as response:  # noqa: S310
                    status, answer = response.status, response.read()
            except urllib.error.HTTPError as exc:
                status, answer = exc.code, exc.read()
            data = json.dumps(
                {"status": status, "answer": json.loads(answer or b"{}"), "bank_txn": txn}
            ).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

    return Handler


@click.group()
def main() -> None:
    """Simulated billers and bank (demo and tests)."""


@main.command()
@click.option("--port", type=int, required=True)
@click.option("--currency", type=click.Choice(["THB", "VND"]), default="THB")
@click.option("--period", default=lambda: date.today().strftime("%Y-%m"))
def billers(port: int, currency: str, period: str) -> None:
    """Serve the five billers and the insurance product."""
    server = ThreadingHTTPServer(("127.0.0.1", port), _billers_handler(_State(currency, period)))
    server.serve_forever()


@main.command()
@click.option("--port", type=int, required=True)
@click.option("--webhook", required=True, help="the server's /bills/webhook/bank URL")
@click.option("--secret-file", type=click.Path(exists=True, path_type=Path), required=True)
def bank(port: int, webhook: str, secret_file: Path) -> None:
    """Serve a bank that pays scanned QR codes and calls the webhook."""
    secret = secret_file.read_bytes().strip()
    server = ThreadingHTTPServer(("127.0.0.1", port), _bank_handler(webhook, secret))
    server.serve_forever()


class PaySim:
    """``billers`` or ``bank`` as a child process on a free loopback port, stopped by pid."""

    def __init__(self, kind: str, *args: str) -> None:
        self.kind = kind
        self.args = args
        self.port = free_port()
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        """The base URL."""
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> PaySim:
        """Start and wait until it accepts connections."""
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "devtools.paysim",
                self.kind,
                "--port",
                str(self.port),
                *self.args,
            ]
        )
        if not wait_for_port("127.0.0.1", self.port):
            self.stop()
            raise RuntimeError(f"simulated {self.kind} did not start")
        return self

    def stop(self) -> None:
        """Stop it by pid; safe twice."""
        process, self.process = self.process, None
        if process is not None and process.poll() is None:
            os.kill(process.pid, signal.SIGTERM)
            process.wait(10)

    def post(self, path: str, body: dict) -> dict:
        """POST JSON, return the JSON answer."""
        request = urllib.request.Request(  # noqa: S310 - our own loopback URL
            self.url + path,
            data=json.dumps(body).encode(),
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310
            return json.loads(response.read())


if __name__ == "__main__":
    main()
