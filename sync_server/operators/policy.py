"""What a password and an operator's profile must be (seed 003's form rules).

Each check returns a list of problems as ``(field, message)``; the message is in the page's
language (the server's catalogues, sync_server/i18n.py).
"""

from __future__ import annotations

import re

from flask_babel import gettext

from contract.identifiers import InvalidThaiMobileError, is_valid_citizen_id, normalize_thai_mobile

MIN_PASSWORD_LENGTH = 10

# Passwords people pick first; a leaked-password list would be better, but this machine
# has no network and the list must ship with the code.
_COMMON = {
    "password",
    "password1",
    "password123",
    "passw0rd",
    "qwerty123",
    "qwertyuiop",
    "1234567890",
    "0123456789",
    "iloveyou",
    "admin12345",
    "welcome123",
    "letmein123",
    "changeme123",
}

_THAI_WORDS = re.compile(r"^[\u0E01-\u0E4E]+(?: [\u0E01-\u0E4E]+)*$")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[A-Za-z]{2,}$")

Problems = list[tuple[str, str]]


def password_problems(password: str, *, username: str) -> Problems:
    """Why ``password`` is not strong enough (empty: it is)."""
    problems: Problems = []
    if len(password) < MIN_PASSWORD_LENGTH:
        problems.append(
            (
                "new_password",
                gettext("At least %(num)d characters", num=MIN_PASSWORD_LENGTH),
            )
        )
    classes = sum(
        [
            any(c.islower() for c in password),
            any(c.isupper() for c in password),
            any(c.isdigit() for c in password),
            any(not c.isalnum() for c in password),
        ]
    )
    if classes < 3:
        problems.append(
            ("new_password", gettext("Use three of: lower case, upper case, digits, symbols"))
        )
    lowered = password.lower()
    if username and username.lower() in lowered:
        problems.append(("new_password", gettext("It must not contain the username")))
    if lowered in _COMMON:
        problems.append(("new_password", gettext("Too common a password")))
    return problems


def profile_problems(
    *,
    first_name: str,
    last_name: str,
    position: str,
    citizen_id: str,
    email: str,
    phone: str,
) -> Problems:
    """Why a profile would be refused (empty: it is valid)."""
    problems: Problems = []
    for field, value, label in (
        ("first_name", first_name, gettext("First name")),
        ("last_name", last_name, gettext("Last name")),
        ("position", position, gettext("Position")),
    ):
        if not _THAI_WORDS.match(value.strip()):
            problems.append((field, gettext("%(field)s: Thai letters only", field=label)))
    if not is_valid_citizen_id(citizen_id):
        problems.append(
            (
                "citizen_id",
                gettext("The 13-digit citizen ID is wrong (length or check digit)"),
            )
        )
    if not _EMAIL.match(email.strip()):
        problems.append(("email", gettext("Not an e-mail address")))
    try:
        normalize_thai_mobile(phone)
    except InvalidThaiMobileError:
        problems.append(("phone", gettext("Phone as 0xx-xxxxxxx")))
    return problems
