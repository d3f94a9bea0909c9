"""Remote commands signed by the server and verified by the station.

Both sides import this module so that they agree on every byte:

- The server signs each :class:`contract.Command` with its Ed25519 key, the same key that
  signs replica parts (``sync_server/replicas/keys.py``); stations already hold its public
  half. The signed bytes are :data:`CONTEXT` followed by the command's JSON fields, without
  ``signature``, with keys sorted. The context keeps a command signature from ever passing
  as a replica-part signature, and the other way round.
- The station verifies over the fields as they arrived on the wire, not over its own
  re-encoding of the typed message, so a field added to ``Command`` later is covered by the
  signature without breaking stations that do not know it yet.
- A command is checked for its address (``station_id``) as well: a correctly signed command
  for station A replayed on station B's topic is refused by B.

Whoever controls the broker or the web front can delete or delay commands, but cannot make
one a station accepts: that needs the signing key, which stays with the server's processes.
"""

from __future__ import annotations

from typing import Any

import msgspec
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from contract.codec import to_builtins
from contract.errors import ContractError
from contract.messages import Command

CONTEXT = b"dcs/v1 command\x00"
SIGNATURE_FIELD = "signature"


class CommandSealError(ContractError):
    """A command is unsigned, not signed by the server's key, or not for this station."""


def signed_bytes(fields: dict[str, Any]) -> bytes:
    """What the signature covers: the context and the fields except the signature, sorted."""
    unsigned = {name: value for name, value in fields.items() if name != SIGNATURE_FIELD}
    return CONTEXT + msgspec.json.encode(unsigned, order="sorted")


def sign_command(command: Command, signing_key: Ed25519PrivateKey) -> Command:
    """A copy of ``command`` carrying the server's signature."""
    signature = signing_key.sign(signed_bytes(to_builtins(command)))
    return msgspec.structs.replace(command, signature=signature)


def verify_command(
    payload: bytes, command: Command, *, station_id: str, server_public: Ed25519PublicKey
) -> None:
    """Check that ``command`` (``decode(payload, Command)``) is the server's, for ``station_id``.

    Raises :class:`CommandSealError`, whose message is safe to send back, for an unsigned
    command, a bad signature, another key's signature or another station's command.
    """
    if command.signature is None:
        raise CommandSealError("command is not signed")
    if command.station_id != station_id:
        raise CommandSealError("command is addressed to another station")
    # ``command`` was decoded from ``payload``, so the payload is a JSON object.
    fields = msgspec.json.decode(payload)
    try:
        server_public.verify(command.signature, signed_bytes(fields))
    except InvalidSignature:
        raise CommandSealError("command is not signed by the server's key") from None
