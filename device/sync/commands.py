"""Remote commands from the server, answered with a result on the station's topic.

A command runs only if it carries the server's signature and is addressed to this station
(``contract/command_seal.py``); anything else is answered ``rejected`` and logged. A station
with no server key configured refuses every command: it fails closed. A command runs at
most once (:class:`device.sync.command_log.CommandLog`): a replay or redelivery is ignored.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime
from typing import Any

import paho.mqtt.client as mqtt
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from contract import Channel, Command, CommandResult, ContractError, decode, encode
from contract.command_seal import CommandSealError, verify_command
from device.sync.command_log import CommandLog
from device.sync.link import Link

log = logging.getLogger(__name__)

CommandHandler = Callable[[dict[str, Any]], str | None]
#: A handler that needs the whole verified command (its id: ``collect_diagnostics`` answers
#: with data tied to it).
WholeCommandHandler = Callable[[Command], str | None]


class Commands:
    """Runs registered handlers for verified commands; every command gets an explicit result.

    ``server_key`` is the server's Ed25519 public key; ``None`` refuses every command.
    ``run_log`` remembers the commands already run, so a replayed one runs nothing.
    """

    def __init__(
        self,
        link: Link,
        clock: Callable[[], datetime],
        server_key: Ed25519PublicKey | None = None,
        run_log: CommandLog | None = None,
    ) -> None:
        self._link = link
        self._clock = clock
        self._server_key = server_key
        self._run_log = run_log or CommandLog()
        self._handlers: dict[str, WholeCommandHandler] = {"ping": lambda command: "pong"}
        link.route(Channel.COMMAND, self._on_command)

    def register(self, name: str, handler: CommandHandler) -> None:
        """Handle command ``name`` with its args; the handler returns a detail or raises."""
        self._handlers[name] = lambda command: handler(command.args)

    def register_whole(self, name: str, handler: WholeCommandHandler) -> None:
        """Handle command ``name`` given the whole verified command (its id, its times)."""
        self._handlers[name] = handler

    def _on_command(self, message: mqtt.MQTTMessage) -> None:
        try:
            command = decode(message.payload, Command)
        except ContractError as exc:
            log.warning("ignored a malformed command: %s", exc)
            return
        if (refusal := self._refusal(message.payload, command)) is not None:
            log.warning("refused command %s (%s): %s", command.command_id, command.name, refusal)
            status, detail = "rejected", refusal
        elif command.expires_at <= self._clock():
            status, detail = "expired", "arrived after its time to live"
        elif not self._run_log.first_run(command.command_id, command.expires_at, self._clock()):
            # A replay, or QoS 1 redelivering it: the first answer stands, nothing runs twice.
            log.warning("ignored command %s (%s): already run", command.command_id, command.name)
            return
        elif (handler := self._handlers.get(command.name)) is None:
            status, detail = "rejected", f"{command.name} is not supported by this station"
        else:
            try:
                status, detail = "done", handler(command)
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

    def _refusal(self, payload: bytes, command: Command) -> str | None:
        """Why ``command`` must not run (unverified, not for us), or ``None`` to run it."""
        if self._server_key is None:
            return "this station has no server key to verify commands with"
        try:
            verify_command(
                payload, command, station_id=self._link.station_id, server_public=self._server_key
            )
        except CommandSealError as exc:
            return str(exc)
        return None
