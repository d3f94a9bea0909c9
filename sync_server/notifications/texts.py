"""What a notification says, as msgids of the server's catalogues (th, vi, en).

A notification names the alarm's rule, its severity, the station (or the server's part) and
when it was raised: never a citizen's data (the alarms hold none) and never the free text of
an alarm's message in the SMS (kept short, one language).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from sync_server.i18n import N_, translate

#: Each alarm rule's name as people read it (unknown rules show their raw name).
RULE_LABELS: dict[str, str] = {
    "offline": N_("Station offline"),
    "paper_out": N_("Printer out of paper"),
    "tamper": N_("Enclosure opened"),
    "backlog": N_("Transactions waiting to sync"),
    "disk": N_("Disk almost full"),
    "quarantine": N_("Station quarantined"),
    "budget": N_("Station over its budget"),
    "broker": N_("Broker not answering"),
    "certificate": N_("Certificate expiring"),
    "crl": N_("Revocation list expiring"),
}
SEVERITY_LABELS: dict[str, str] = {"critical": N_("critical"), "warning": N_("warning")}

#: The SMS and the e-mail's subject.
ALARM_SHORT = N_("DCS alarm (%(severity)s): %(what)s at %(subject)s since %(time)s UTC")
#: The e-mail's body, after the short text.
ALARM_DETAIL = N_("Details: %(detail)s")
ALARM_FOOTER = N_("Open the dashboard to acknowledge it. You get this because of rule %(rule)s.")


def rule_label(rule: str, language: str) -> str:
    """The alarm rule ``rule`` in ``language``."""
    label = RULE_LABELS.get(rule)
    return translate(label, language) if label else rule


def short_text(params: Mapping[str, str], language: str) -> str:
    """The one-line notification: severity, what, where and since when."""
    severity = SEVERITY_LABELS.get(params["severity"])
    raised = datetime.fromisoformat(params["raised_at"])
    return translate(
        ALARM_SHORT,
        language,
        severity=translate(severity, language) if severity else params["severity"],
        what=rule_label(params["alarm_rule"], language),
        subject=params["station_id"],
        time=f"{raised:%Y-%m-%d %H:%M}",
    )


def long_text(params: Mapping[str, str], language: str, rule_id: int) -> str:
    """The e-mail's body: the short text, the alarm's detail and why the reader gets it."""
    number = "#" + str(rule_id)
    return "\n\n".join(
        (
            short_text(params, language),
            translate(ALARM_DETAIL, language, detail=params.get("detail", "")),
            translate(ALARM_FOOTER, language, rule=number),
        )
    )
