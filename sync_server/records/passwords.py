"""argon2id password hashes (argon2-cffi) and temporary passwords for e-accounts.

argon2-cffi's defaults are RFC 9106's second recommendation (argon2id, 64 MiB, 3 passes,
4 lanes): about 0.1 s a hash on a 2-core machine, which is the point.
"""

from __future__ import annotations

import secrets
import string

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

_hasher = PasswordHasher()

#: No look-alikes (0/O, 1/l/I), so a password read from the screen or aloud is typed right.
_ALPHABET = "".join(c for c in string.ascii_letters + string.digits if c not in "0O1lI")


def hash_password(password: str) -> str:
    """The argon2id hash (PHC string with its salt and parameters) of ``password``."""
    return _hasher.hash(password)


def verify_password(password_hash: str, password: str) -> bool:
    """Whether ``password`` matches ``password_hash``."""
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def needs_rehash(password_hash: str) -> bool:
    """Whether the hash was made with weaker parameters than today's."""
    return _hasher.check_needs_rehash(password_hash)


def temporary_password(length: int = 10) -> str:
    """A random password with upper and lower case letters and digits, from the OS's CSPRNG."""
    while True:
        candidate = "".join(secrets.choice(_ALPHABET) for _ in range(length))
        if (
            any(c.isupper() for c in candidate)
            and any(c.islower() for c in candidate)
            and any(c.isdigit() for c in candidate)
        ):
            return candidate
