"""Encoding and decoding of wire messages with a size limit and errors that name the field."""

from __future__ import annotations

import re
from functools import cache
from typing import Any, TypeVar

import msgspec

from contract.errors import (
    MalformedMessageError,
    PayloadTooLargeError,
    SchemaError,
    UnsupportedVersionError,
)
from contract.messages import SUPPORTED_VERSIONS, TX_BODIES, Transaction

MAX_PAYLOAD_BYTES = 64 * 1024

T = TypeVar("T", bound=msgspec.Struct)

_encoder = msgspec.json.Encoder(decimal_format="string")
_FIELD_RE = re.compile(r"at `\$\.?([^`]*)`")


class _Envelope(msgspec.Struct):
    v: Any = msgspec.UNSET


@cache
def _decoder(type_: type[T]) -> msgspec.json.Decoder[T]:
    return msgspec.json.Decoder(type_)


_envelope_decoder = msgspec.json.Decoder(_Envelope)


def encode(message: msgspec.Struct) -> bytes:
    """Serialise ``message`` to JSON bytes; raises :class:`PayloadTooLargeError` past the limit."""
    data = _encoder.encode(message)
    if len(data) > MAX_PAYLOAD_BYTES:
        raise PayloadTooLargeError(len(data), MAX_PAYLOAD_BYTES)
    return data


def _schema_error(exc: msgspec.ValidationError, prefix: str = "") -> SchemaError:
    text = str(exc)
    match = _FIELD_RE.search(text)
    field = match.group(1) if match else None
    if field is not None and prefix:
        field = f"{prefix}.{field}" if field else prefix
    elif field is None and prefix:
        field = prefix
    where = f" (field {field!r})" if field else ""
    return SchemaError(f"{text}{where}", field=field)


def peek(data: bytes, decoder: msgspec.json.Decoder[T]) -> T:
    """``data`` read by ``decoder`` (a loose struct that looks at a few fields), after the
    size check; the errors a payload that is no JSON object gets, whatever reads it."""
    if len(data) > MAX_PAYLOAD_BYTES:
        raise PayloadTooLargeError(len(data), MAX_PAYLOAD_BYTES)
    try:
        return decoder.decode(data)
    except msgspec.ValidationError as exc:
        # Valid JSON, but not an object.
        raise MalformedMessageError(f"payload is not a JSON object: {exc}") from None
    except msgspec.DecodeError as exc:
        raise MalformedMessageError(f"payload is not valid JSON: {exc}") from None


def decode(data: bytes, type_: type[T]) -> T:
    """Parse ``data`` as a ``type_`` message.

    Checks, in order: size, JSON well-formedness, schema version, schema. Each failure raises
    its own :class:`contract.errors.ContractError` subclass; schema errors carry ``field``.
    """
    if data.startswith(b'{"v":') and len(data) <= MAX_PAYLOAD_BYTES:
        # What every encoder of ours writes (``v`` first, present): parsed once. Anything
        # else, or anything this refuses, takes the checks below for their exact error.
        try:
            message = _decoder(type_).decode(data)
        except msgspec.DecodeError:  # ValidationError included
            pass
        else:
            if type(message.v) is int and message.v in SUPPORTED_VERSIONS:
                return message
    envelope = peek(data, _envelope_decoder)
    if envelope.v is msgspec.UNSET:
        raise SchemaError("Object missing required field `v` (field 'v')", field="v")
    if type(envelope.v) is not int or envelope.v not in SUPPORTED_VERSIONS:
        raise UnsupportedVersionError(envelope.v, SUPPORTED_VERSIONS)
    try:
        return _decoder(type_).decode(data)
    except msgspec.ValidationError as exc:
        raise _schema_error(exc) from None


def decode_body(tx: Transaction) -> msgspec.Struct:
    """Validate a transaction's ``body`` against the schema registered for its ``kind``."""
    schema = TX_BODIES.get(tx.kind)
    if schema is None:
        raise SchemaError(f"unknown transaction kind {tx.kind!r} (field 'kind')", field="kind")
    try:
        return msgspec.convert(tx.body, schema)
    except msgspec.ValidationError as exc:
        raise _schema_error(exc, prefix="body") from None


def to_builtins(message: msgspec.Struct) -> dict[str, Any]:
    """The message as plain JSON-compatible Python objects (for storage or HTTP responses)."""
    return msgspec.to_builtins(message)
