"""Creating and switching notification rules (the dashboard's form and tests use these)."""

from __future__ import annotations

import re

from sync_server.db import write_transaction
from sync_server.i18n import LANGUAGES
from sync_server.notifications.dispatch import CHANNELS, SEVERITIES
from sync_server.notifications.models import NotificationRule
from sync_server.notifications.texts import RULE_LABELS
from sync_server.sms.gateway import SmsAddressError, check_number

_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


class RuleError(ValueError):
    """A rule that cannot be saved; the message says which field is wrong."""


def create_rule(
    *,
    alarm_rule: str,
    min_severity: str,
    channel: str,
    target: str,
    language: str,
    quiet_period_s: int,
    by: str,
) -> NotificationRule:
    """A new enabled rule, its fields checked."""
    target = target.strip()
    if alarm_rule != "*" and alarm_rule not in RULE_LABELS:
        raise RuleError(f"unknown alarm rule {alarm_rule!r}")
    if min_severity not in SEVERITIES:
        raise RuleError("severity must be warning or critical")
    if language not in LANGUAGES:
        raise RuleError(f"language must be one of {', '.join(LANGUAGES)}")
    if quiet_period_s < 0:
        raise RuleError("the quiet period cannot be negative")
    if channel == "sms":
        try:
            check_number(target)
        except SmsAddressError:
            raise RuleError("an SMS goes to a Thai mobile number (0 and nine digits)") from None
    elif channel == "email":
        if not _EMAIL.match(target):
            raise RuleError("not an e-mail address")
    elif channel == "webhook":
        if not target.startswith(("https://", "http://")) or len(target) > 200:
            raise RuleError("a webhook is an http(s) URL of at most 200 characters")
    else:
        raise RuleError(f"channel must be one of {', '.join(CHANNELS)}")
    with write_transaction():
        return NotificationRule.create(
            alarm_rule=alarm_rule,
            min_severity=min_severity,
            channel=channel,
            target=target,
            language=language,
            quiet_period_s=quiet_period_s,
            created_by=by[:64],
        )


def set_enabled(rule_id: int, enabled: bool) -> NotificationRule | None:
    """Switch a rule on or off (rules are kept: their notifications refer to them)."""
    with write_transaction():
        rule = NotificationRule.get_or_none(NotificationRule.id == rule_id)
        if rule is not None:
            rule.enabled = enabled
            rule.save()
    return rule


def all_rules() -> list[NotificationRule]:
    """Every rule, enabled first, oldest first."""
    return sorted(NotificationRule.select(), key=lambda r: (not r.enabled, r.id))
