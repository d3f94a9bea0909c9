"""Payment notices from the server, matched to the visit that shows the QR.

The server pushes a :class:`contract.bills.PaymentNotice` on the station's ``payment`` topic
when the bank confirms a payment or its QR expires (``sync_server/bills/notices.py``).
:class:`PaymentWatch` decodes it and, if the current visit shows that payment
(``visit.flows["pay"]["reference"]``), records the outcome there and queues the paid
receipt, once: a notice delivered twice changes nothing. A notice for a visit that has ended
(the card was pulled) is dropped with the visit's other data: the resident sees the payment
on their bank's side, and the biller has it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import paho.mqtt.client as mqtt

from contract import Channel, ContractError, decode
from contract.bills import PaymentNotice
from device.kiosk.visit import Visit
from device.sync.link import Link

log = logging.getLogger(__name__)


class PaymentWatch:
    """Routes ``payment`` notices to the visit that waits for them."""

    def __init__(
        self,
        link: Link,
        current: Callable[[], Visit | None],
        on_paid: Callable[[Visit, PaymentNotice], None],
    ) -> None:
        self._current = current
        self._on_paid = on_paid
        link.route(Channel.PAYMENT, self._on_message)

    def _on_message(self, message: mqtt.MQTTMessage) -> None:
        try:
            notice = decode(message.payload, PaymentNotice)
        except ContractError as exc:
            log.warning("bad payment notice: %s", exc)
            return
        self.apply(notice)

    def apply(self, notice: PaymentNotice) -> bool:
        """Record ``notice`` in the visit showing its payment; True if one was."""
        visit = self._current()
        flow = visit.flows.get("pay") if visit is not None else None
        if visit is None or not flow or flow.get("reference") != notice.reference:
            log.info("payment notice for no visit on screen (%s)", notice.state)
            return False
        if flow.get("outcome") is not None:
            return True  # told twice: already done
        flow["outcome"] = notice.state
        flow["confirmations"] = list(notice.confirmations)
        if notice.state == "paid":
            self._on_paid(visit, notice)
        return True
