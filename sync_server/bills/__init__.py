"""Bills and payments by QR at the kiosk (seed 002's utilities; issue 14, items 1 and 2).

``models.py`` the tables; ``emvco.py`` the PromptPay / VietQR payloads; ``billers.py`` the
biller and insurance product adapter interfaces and their HTTP form; ``management.py`` the
building management fee, our own biller; ``payments.py`` opening, settling (exactly once) and
expiring payments; ``webhook.py`` the bank's signed callback; ``handlers.py`` the kiosk
service actions; ``notices.py`` the push of outcomes to stations; ``views.py`` the building
manager's page and the webhook's route. See docs/bills.md.
"""

from __future__ import annotations

from flask import Flask


def init_app(app: Flask) -> None:
    """The fee page and the bank's webhook."""
    from sync_server.bills import views

    views.init_app(app)
