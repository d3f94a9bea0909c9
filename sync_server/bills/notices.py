"""Telling stations how their payments ended, and the payments' other chores.

:class:`PaymentNotifier` runs in the kiosk-services worker (``dcs-server kiosk``), on its
MQTT connection: every ``poll_s`` it asks the billers to confirm paid bills, expires QR codes
past their time, and publishes a :class:`contract.bills.PaymentNotice` at QoS 1 on the
``payment`` topic of each station that showed a QR whose outcome is known. A notice is marked
sent once the broker acknowledged it; a station that is offline gets it from its persistent
session when it is back. Any number of workers may run: a notice sent twice is harmless (the
kiosk acts on a reference once).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import UTC
from decimal import Decimal

import paho.mqtt.client as mqtt
import peewee

from contract import Channel, encode, station_topic
from contract.bills import PaymentNotice
from contract.transport import QOS
from sync_server.bills.models import Payment
from sync_server.bills.payments import Billing, quantize

log = logging.getLogger(__name__)


def notice_of(payment: Payment) -> PaymentNotice:
    """The notice of a settled payment."""
    at = payment.settled_at
    items = list(payment.items)
    return PaymentNotice(
        station_id=payment.station_id,
        reference=payment.reference,
        state="paid" if payment.state == "paid" else "expired",
        amount=quantize(Decimal(payment.amount), payment.currency),
        currency=payment.currency,
        at=at if at.tzinfo else at.replace(tzinfo=UTC),
        bill_ids=[item.bill_id for item in items],
        confirmations=[item.confirmation for item in items if item.confirmation],
    )


class PaymentNotifier:
    """The worker's payment chores, on a thread of its own."""

    def __init__(
        self,
        db: peewee.Database,
        billing: Billing,
        client: Callable[[], mqtt.Client],
        *,
        poll_s: float = 1.0,
    ) -> None:
        self._thread: threading.Thread | None = None
        self._db = db
        self.billing = billing
        self._client = client
        self.poll_s = poll_s
        self._stop = threading.Event()

    def run_once(self) -> int:
        """One round; returns how many notices the broker acknowledged."""
        self.billing.follow_up()
        sent = 0
        for payment in self.billing.notices_due():
            info = self._client().publish(
                station_topic(payment.station_id, Channel.PAYMENT),
                encode(notice_of(payment)),
                qos=QOS,
            )
            info.wait_for_publish(5.0)
            if info.is_published():
                self.billing.notice_sent(payment.reference)
                sent += 1
        return sent

    def start(self) -> PaymentNotifier:
        """Run rounds until :meth:`stop`."""
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="dcs-payments", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop after the current round; safe twice."""
        self._stop.set()
        thread, self._thread = self._thread, None
        if thread is not None:
            thread.join()

    def _run(self) -> None:
        with self._db.connection_context():
            while not self._stop.wait(self.poll_s):
                try:
                    self.run_once()
                except (RuntimeError, ValueError, OSError, peewee.PeeweeException):
                    # Not connected yet, a busy database: the next round tries again.
                    log.exception("payment round failed")
