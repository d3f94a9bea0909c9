"""A station's diagnostics bundle: on site (``dcs-station diagnostics``) or by remote command.

The bundle is a zip of ``diagnostics.json`` (self-test or live device state, versions, config
without secrets, outbox and replica figures, disk and clock) and ``log.txt`` (the last lines
of the daemon's log), made by :func:`build_bundle`. Only the fields :data:`ALLOWLIST` names
leave the station, and every text goes through a redactor (citizen ids, phone numbers, the
names of the residents the store knows). ``collect_diagnostics`` sends it to the server in
parts (:func:`send_bundle`), in answer to that one command.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from contract import Command
from device.diagnostics.collect import Bundle, build_bundle
from device.diagnostics.redact import ALLOWLIST, Redactor, allowlisted
from device.diagnostics.upload import send_bundle

if TYPE_CHECKING:
    from device.station import Station

__all__ = ["ALLOWLIST", "Bundle", "Redactor", "allowlisted", "build_bundle", "send_bundle"]


def register_command(station: Station) -> None:
    """Answer ``collect_diagnostics``: build the bundle, send its parts, say how big it was."""

    def collect(command: Command) -> str:
        lines = command.args.get("log_lines", 200)
        lines = lines if isinstance(lines, int) and 0 <= lines <= 2000 else 200
        bundle = build_bundle(station, made_by=f"command {command.command_id}", log_lines=lines)
        parts = send_bundle(station.sync.link, command.command_id, bundle.data)
        return f"diagnostics sent: {len(bundle.data)} bytes in {parts} part(s)"

    station.sync.commands.register_whole("collect_diagnostics", collect)
