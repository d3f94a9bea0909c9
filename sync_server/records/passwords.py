"""argon2id password hashes (argon2-cffi) and temporary passwords for e-accounts.

argon2-cffi's defaults are RFC 9106's second recommendation (argon2id, 64 MiB, 3 passes,
4 lanes): about 0.1 s a hash on a 2-core machine, which is the point.
"""

from __future__ import annotations

import math
import re
import secrets
import string

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

_hasher = PasswordHasher()

#: No look-alikes (0/O, 1/l/I), so a password read from the screen or aloud is typed right.
_ALPHABET = "".join(c for c in string.ascii_letters + string.digits if c not in "0O1lI")

#: The e-account's temporary password, for residents who read it off a screen or hear it:
#: capitals and digits only, and of each look-alike pair neither or one (0/O/Q/D-like round
#: shapes keep only D; 1/I/L, 2/Z, 5/S, 6/G, 8/B, U/V lose both or one). 22 symbols.
READABLE_ALPHABET = "ACDEFHJKMNPRTUWXY34679"
#: Shown and read in groups of three ("K7Q-XM4-PAR-T9H-WEC"), like a phone number.
READABLE_GROUP = 3
#: 15 symbols: 15 x log2(22) = 66.9 bits, more than the 10 x log2(57) = 58.3 bits of the
#: mixed-case password it replaces.
READABLE_LENGTH = 15
#: What a resident may type between the groups (or by mistake around them).
_SEPARATORS = re.compile(r"[\s\-\u2010-\u2015\u2212]")


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


def readable_password() -> str:
    """A temporary password from :data:`READABLE_ALPHABET`, grouped with dashes for reading.

    The dashes are not part of it: :func:`canonical_readable` is what is hashed, and what a
    login compares (so ``K7Q-XM4``, ``k7q xm4`` and ``K7QXM4`` are the same password).
    """
    symbols = "".join(secrets.choice(READABLE_ALPHABET) for _ in range(READABLE_LENGTH))
    return "-".join(
        symbols[i : i + READABLE_GROUP] for i in range(0, READABLE_LENGTH, READABLE_GROUP)
    )


def canonical_readable(typed: str) -> str:
    """A readable password as typed, without separators and in capitals."""
    return _SEPARATORS.sub("", typed).upper()


def readable_entropy_bits() -> float:
    """How many bits a :func:`readable_password` carries (length x log2 of the alphabet)."""
    return READABLE_LENGTH * math.log2(len(READABLE_ALPHABET))
