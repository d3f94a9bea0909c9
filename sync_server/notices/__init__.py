"""Public notices (seed 002: "security and order information") for the stations' home screens.

Operations write a notice on the dashboard (``views.py``) or through the API
(``sync_server/api/notices.py``): every station, one district or named buildings; a title
and text in th, vi and en; a start and an end. ``service.py`` keeps it (``models.py``) and
publishes it signed and **retained** on the broker (``contract/notices.py``), so stations
that are offline now get it when they connect, and keep it in their store to show it offline
until it ends. See docs/checkups-notices.md.
"""

from __future__ import annotations

from flask import Flask


def init_app(app: Flask) -> None:
    """Register the dashboard's notices page."""
    from sync_server.notices.views import bp

    app.register_blueprint(bp)
