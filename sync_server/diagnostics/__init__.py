"""Diagnostics bundles from stations: asked for by a command, uploaded in parts, downloaded.

An operator sends ``collect_diagnostics`` from the station page; the station answers with a
redacted bundle (``device/diagnostics``) in parts on its ``diagnostics`` topic; the ingest
hands each part to :func:`sync_server.diagnostics.receive.accept_part`, which keeps what a
command the server sent allows and nothing more; the station page lists the bundles and an
operator downloads them (audited).
"""
