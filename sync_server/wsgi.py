"""The WSGI entry point for gunicorn: ``gunicorn -c gunicorn.conf.py sync_server.wsgi:app``.

Configuration comes as for every server process: ``DCS_SERVER_CONFIG`` (a TOML file) and
``DCS_*`` environment variables. It refuses to start without a real ``SECRET_KEY``.
"""

from __future__ import annotations

from sync_server import create_app, logs

logs.setup()  # the app's own records as JSON lines (gunicorn keeps its access log)
app = create_app()
