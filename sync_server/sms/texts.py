"""The SMS texts citizens get about their petitions, as msgids of the server's catalogues.

Compose them with :func:`sync_server.i18n.sms_text` in the reader's language (th, vi, en);
the one-time-code texts live beside the codes, in ``sync_server.otp.MESSAGES``.
"""

from __future__ import annotations

from sync_server.i18n import N_, sms_text

#: Sent once a filed petition reaches the server (seed 004; sender OSS-LOCAL).
PETITION_RECEIVED = N_("Your petition %(number)s was received. Track it: %(link)s")
#: Sent when an officer changes the petition's status: never the officer's comment.
STATUS_CHANGED = N_("Petition %(number)s is now: %(status)s. Track it at %(link)s")


def petition_received_text(number: str, link: str, language: str | None = None) -> str:
    """The filing SMS: the petition number and its tracking link, in ``language``
    (None: the configured default)."""
    return sms_text(PETITION_RECEIVED, language, number=number, link=link)
