"""Replica parts encrypted for one station and signed by the server.

The design, in one place because both sides must agree on every byte:

- Each station holds an X25519 key pair made on the station (``device/replica/keys.py``); the
  server knows only its public key, pinned at enrolment.
- The server holds an Ed25519 signing key; stations hold its public key in their config.
- A part is sealed ECIES-style: a fresh X25519 key pair per part, ``ECDH(ephemeral,
  station)`` through HKDF-SHA256 (salt = both public keys, info = context + station id) gives
  a one-time AES-256-GCM key; the zlib-compressed content is encrypted with the station id
  and key id as associated data. The server signs context, station id, key id, ephemeral key,
  nonce and ciphertext with Ed25519.
- A station checks the signature first (a message not made by the server, or changed on
  the way, goes no further), then the key id, then decrypts.

Only the station can read a part (its private key never leaves it), only the server can make
one (its signing key never leaves it), and a part for one station is useless to another.
"""

from __future__ import annotations

import hashlib
import os
import zlib

from cryptography.exceptions import InvalidSignature, InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from contract.errors import ContractError
from contract.messages import ReplicaEnvelope

CONTEXT = b"dcs/v1 replica part\x00"
#: A part never inflates past this: a guard against a decompression bomb.
MAX_CONTENT_BYTES = 8 * 1024 * 1024


class ReplicaSealError(ContractError):
    """A replica part is not signed by the server, not for this key, or was changed."""


def raw_public(key: X25519PublicKey | Ed25519PublicKey) -> bytes:
    """The 32 raw bytes of a public key."""
    return key.public_bytes(Encoding.Raw, PublicFormat.Raw)


def key_id(public_key: bytes) -> str:
    """A short fingerprint of a station's raw X25519 public key."""
    return hashlib.sha256(public_key).hexdigest()[:16]


def _bound(station_id: str, kid: str, ephemeral: bytes) -> bytes:
    return CONTEXT + station_id.encode() + b"\x00" + kid.encode() + b"\x00" + ephemeral


def _content_key(shared: bytes, ephemeral: bytes, station_public: bytes, station_id: str) -> bytes:
    return HKDF(
        algorithm=hashes.SHA256(),
        length=32,
        salt=ephemeral + station_public,
        info=CONTEXT + station_id.encode(),
    ).derive(shared)


def seal_part(
    content: bytes,
    *,
    station_id: str,
    station_public: bytes,
    signing_key: Ed25519PrivateKey,
) -> ReplicaEnvelope:
    """Encrypt ``content`` (an encoded ``ReplicaContent``) for one station and sign it."""
    ephemeral_private = X25519PrivateKey.generate()
    ephemeral = raw_public(ephemeral_private.public_key())
    shared = ephemeral_private.exchange(X25519PublicKey.from_public_bytes(station_public))
    key = _content_key(shared, ephemeral, station_public, station_id)
    kid = key_id(station_public)
    bound = _bound(station_id, kid, ephemeral)
    nonce = os.urandom(12)
    ciphertext = AESGCM(key).encrypt(nonce, zlib.compress(content, 6), bound)
    signature = signing_key.sign(bound + nonce + ciphertext)
    return ReplicaEnvelope(
        station_id=station_id,
        key_id=kid,
        ephemeral_key=ephemeral,
        nonce=nonce,
        ciphertext=ciphertext,
        signature=signature,
    )


def open_part(
    envelope: ReplicaEnvelope,
    *,
    station_id: str,
    station_key: X25519PrivateKey,
    server_public: Ed25519PublicKey,
) -> bytes:
    """Check and decrypt a part sealed for ``station_id``; raises :class:`ReplicaSealError`."""
    if envelope.station_id != station_id:
        raise ReplicaSealError("replica part addressed to another station")
    bound = _bound(envelope.station_id, envelope.key_id, envelope.ephemeral_key)
    try:
        server_public.verify(envelope.signature, bound + envelope.nonce + envelope.ciphertext)
    except InvalidSignature:
        raise ReplicaSealError("replica part is not signed by the server's key") from None
    station_public = raw_public(station_key.public_key())
    if envelope.key_id != key_id(station_public):
        raise ReplicaSealError("replica part is encrypted for another station key")
    shared = station_key.exchange(X25519PublicKey.from_public_bytes(envelope.ephemeral_key))
    key = _content_key(shared, envelope.ephemeral_key, station_public, station_id)
    try:
        compressed = AESGCM(key).decrypt(envelope.nonce, envelope.ciphertext, bound)
    except InvalidTag:
        raise ReplicaSealError("replica part does not decrypt") from None
    inflater = zlib.decompressobj()
    try:
        content = inflater.decompress(compressed, MAX_CONTENT_BYTES)
    except zlib.error:
        raise ReplicaSealError("replica part content is not zlib data") from None
    if inflater.unconsumed_tail or not inflater.eof:
        raise ReplicaSealError("replica part content is truncated or too large")
    return content
