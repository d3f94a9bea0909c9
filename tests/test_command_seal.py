"""contract/command_seal.py: what the signature covers, byte for byte."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import msgspec
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from contract import Command, decode, encode
from contract.command_seal import CONTEXT, CommandSealError, sign_command, verify_command

SERVER = Ed25519PrivateKey.generate()


def signed(**args: object) -> Command:
    now = datetime.now(UTC)
    unsigned = Command(
        command_id=str(uuid.uuid4()),
        station_id="st-a",
        name="lock",
        args=args,
        issued_at=now,
        expires_at=now + timedelta(minutes=5),
    )
    return sign_command(unsigned, SERVER)


def check(payload: bytes, station_id: str = "st-a") -> None:
    verify_command(
        payload, decode(payload, Command), station_id=station_id, server_public=SERVER.public_key()
    )


def test_a_signed_command_verifies_with_unicode_numbers_and_nesting():
    check(encode(signed(reason="ปิดปรับปรุง", ratio=1.1, nested=[1, {"b": None}])))


def test_a_field_added_later_is_covered_and_does_not_break_older_stations():
    fields = msgspec.json.decode(encode(signed()))
    del fields["signature"]
    fields["priority"] = "high"  # a field this release's Command does not know
    unsigned = msgspec.json.encode(fields, order="sorted")
    fields["signature"] = SERVER.sign(CONTEXT + unsigned)
    payload = msgspec.json.encode(fields)
    check(payload)
    tampered = payload.replace(b'"high"', b'"low"')
    with pytest.raises(CommandSealError, match="not signed by the server's key"):
        check(tampered)


def test_changed_args_break_the_signature():
    payload = encode(signed(reason="maintenance"))
    with pytest.raises(CommandSealError, match="not signed by the server's key"):
        check(payload.replace(b"maintenance", b"maintenancf"))


def test_a_replica_part_signature_context_is_not_a_command_one():
    # The same key signs replica parts: the context keeps one from passing for the other.
    command = signed()
    fields = msgspec.json.decode(encode(command))
    del fields["signature"]
    body = msgspec.json.encode(fields, order="sorted")
    forged = msgspec.structs.replace(
        command, signature=SERVER.sign(b"dcs/v1 replica part\x00" + body)
    )
    with pytest.raises(CommandSealError):
        check(encode(forged))
