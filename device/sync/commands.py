"""Remote commands from the server, answered with a result on the station's topic."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime
from typing import Any

import paho.mqtt.client as mqtt

from contract import Channel, Command, CommandResult, ContractError, decode, encode
from device.sync.link import Link

log = logging.getLogger(__name__)

CommandHandler = Callable[[dict[str, Any]], str | None]


class Commands:
    """Runs registered handlers; unknown or expired commands get an explicit result."""

    def __init__(self, link: Link, clock: Callable[[], datetime]) -> None:
        self._link = link
        self._clock = clock
        self._handlers: dict[str, CommandHandler] = {"ping": lambda args: "pong"}
        link.route(Channel.COMMAND, self._on_command)

    def register(self, name: str, handler: CommandHandler) -> None:
        """Handle command ``name``; the handler returns a detail string or raises."""
        self._handlers[name] = handler

    def _on_command(self, message: mqtt.MQTTMessage) -> None:
        try:
            command = decode(message.payload, Command)
        except ContractError as exc:
            log.warning("ignored a malformed command: %s", exc)
            return
        if command.station_id != self._link.station_id:
            log.warning("ignored a command addressed to another station")
            return
        if command.expires_at <= self._clock():
            status, detail = "expired", "arrived after its time to live"
        elif (handler := self._handlers.get(command.name)) is None:
            status, detail = "rejected", f"{command.name} is not supported by this station"
        else:
            try:
                status, detail = "done", handler(command.args)
            except Exception as exc:
                log.exception("command %s failed", command.name)
                status, detail = "failed", f"{type(exc).__name__}: {exc}"
        result = CommandResult(
            command_id=command.command_id,
            station_id=self._link.station_id,
            status=status,
            detail=detail,
            station_time=self._clock(),
        )
        self._link.publish(Channel.COMMAND_RESULT, encode(result))
