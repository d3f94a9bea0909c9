"""Certificate and CRL expiry alarms: warned at 30 and 7 days, critical from 1 day.

Mosquitto refuses a client whose certificate has expired, and refuses *every* client once
the CRL it checks has passed its nextUpdate: both are outages on a timer, silent until the
day they strike. The rules loop (``dcs-server alarms``, :mod:`sync_server.dashboard.worker`)
calls :func:`evaluate` with its injectable clock. What it watches:

- each station's certificate: the ``not_after`` of its latest enrolment or rotation (none
  once decommissioned), rule ``certificate`` on the station;
- the server's own files named in its config, read with ``cryptography``: every certificate
  in ``MQTT_CA_FILE`` (the fleet chain, subject ``dcs-ca``), ``MQTT_CERT_FILE`` and each
  ``*.crt.pem`` in ``MQTT_CERT_DIR`` (subject: the certificate's common name, e.g.
  ``dcs-ingest-1``), rule ``certificate``; the broker's CRL ``MQTT_CRL_FILE`` (its
  nextUpdate), rule ``crl`` on ``dcs-crl``. A configured file that cannot be read is a
  critical alarm itself: a watch that silently stopped watching is how this outage happens.

Subjects of the server's own files start with ``dcs-``, which no station id may (the CA
refuses such station certificates), so they never collide with a station's alarms.
An alarm that moves to a more urgent stage is cleared and raised again, unacknowledged.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import peewee
from cryptography import x509

from contract.local_time import LocalTime, format_moment
from sync_server.dashboard.alarms import EXPIRY_RULES, Finding, open_alarm
from sync_server.dashboard.models import Alarm
from sync_server.db import write_transaction
from sync_server.fleet.models import Enrollment
from sync_server.local_time import deployment

CA_SUBJECT = "dcs-ca"
CRL_SUBJECT = "dcs-crl"
#: Config keys naming the server's certificate files, and the directory of its per-process ones.
CERTIFICATE_FILE_KEYS = ("MQTT_CA_FILE", "MQTT_CERT_FILE")
CERTIFICATE_DIR_KEY = "MQTT_CERT_DIR"
CRL_FILE_KEY = "MQTT_CRL_FILE"


@dataclass(frozen=True)
class Expiry:
    """Something that stops working at ``expires_at``; ``None`` when it cannot be read."""

    subject: str  # the station id, or a ``dcs-`` name for the server's own files
    rule: str  # ``certificate`` or ``crl``
    what: str  # for the message: "certificate CN=...", "CRL /etc/.../crl.pem"
    expires_at: datetime | None
    problem: str = ""


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def stage_finding(
    expiry: Expiry, now: datetime, limits: Mapping[str, float], local: LocalTime | None = None
) -> Finding | None:
    """The finding for ``expiry`` at ``now``: warning within 30 and 7 days, critical within 1.
    The expiry time reads in ``local`` (the deployment's zone and calendar)."""
    if expiry.expires_at is None:
        return Finding(expiry.rule, "critical", f"อ่านไม่ได้ · cannot read {expiry.what}: "
                       f"{expiry.problem}"[:200])  # fmt: skip
    left = _aware(expiry.expires_at) - now
    # The message is Thai · English and is stored: the time is written once, in English.
    on = format_moment(_aware(expiry.expires_at), local or LocalTime(), "en")
    if left <= timedelta(0):
        return Finding(expiry.rule, "critical", f"หมดอายุแล้ว · {expiry.what} expired {on}"[:200])
    stages = (
        (limits["ALARM_CERT_CRITICAL_DAYS"], "critical"),
        (limits["ALARM_CERT_URGENT_DAYS"], "warning"),
        (limits["ALARM_CERT_WARN_DAYS"], "warning"),
    )
    for days, severity in stages:
        if left <= timedelta(days=days):
            # The stage, not the days left, is in the message: it changes only on escalation.
            message = f"หมดอายุภายใน {days:g} วัน · {expiry.what} expires within {days:g} days ({on})"
            return Finding(expiry.rule, severity, message[:200])
    return None


def station_certificates() -> Iterator[Expiry]:
    """Each station's certificate from its latest enrolment (none once decommissioned)."""
    latest = (
        Enrollment.select(Enrollment.station_id, peewee.fn.MAX(Enrollment.id).alias("last"))
        .group_by(Enrollment.station_id)
        .alias("latest")
    )
    query = Enrollment.select(Enrollment.station_id, Enrollment.not_after, Enrollment.kind).join(
        latest, on=(Enrollment.id == latest.c.last)
    )
    for station_id, not_after, kind in query.tuples().iterator():
        if kind != "decommission":
            yield Expiry(station_id, "certificate", "station certificate", not_after)


def _common_name(cert: x509.Certificate) -> str:
    names = cert.subject.get_attributes_for_oid(x509.NameOID.COMMON_NAME)
    return str(names[0].value) if names else cert.subject.rfc4514_string()


def certificate_file(path: Path, subject: str | None = None) -> Iterator[Expiry]:
    """Every certificate in a PEM file; ``subject`` (else each one's common name) names it."""
    try:
        certs = x509.load_pem_x509_certificates(path.read_bytes())
    except (OSError, ValueError) as exc:
        yield Expiry(subject or f"dcs-{path.name}"[:32], "certificate", str(path), None, str(exc))
        return
    for cert in certs:
        name = _common_name(cert)
        yield Expiry(
            (subject or name)[:32], "certificate", f"certificate {name}", cert.not_valid_after_utc
        )


def crl_file(path: Path) -> Expiry:
    """The CRL's nextUpdate: after it, the broker refuses every client."""
    try:
        crl = x509.load_pem_x509_crl(path.read_bytes())
    except (OSError, ValueError) as exc:
        return Expiry(CRL_SUBJECT, "crl", f"CRL {path}", None, str(exc))
    if crl.next_update_utc is None:
        return Expiry(CRL_SUBJECT, "crl", f"CRL {path}", None, "it has no nextUpdate")
    return Expiry(CRL_SUBJECT, "crl", f"CRL (nextUpdate) {path.name}", crl.next_update_utc)


def server_files(config: Mapping[str, object]) -> Iterator[Expiry]:
    """The certificates and the CRL the server's config names (none named: nothing)."""
    for key in CERTIFICATE_FILE_KEYS:
        if config.get(key):
            subject = CA_SUBJECT if key == "MQTT_CA_FILE" else None
            yield from certificate_file(Path(str(config[key])), subject)
    if config.get(CERTIFICATE_DIR_KEY):
        for path in sorted(Path(str(config[CERTIFICATE_DIR_KEY])).glob("*.crt.pem")):
            yield from certificate_file(path)
    if config.get(CRL_FILE_KEY):
        yield crl_file(Path(str(config[CRL_FILE_KEY])))


def evaluate(
    now: datetime, limits: Mapping[str, float], config: Mapping[str, object] | None = None
) -> dict:
    """Raise, escalate and clear the expiry alarms; returns what was raised and cleared."""
    holding: dict[tuple[str, str], Finding] = {}
    expiries = [*station_certificates(), *server_files(config or {})]
    # Several certificates under one subject (the chain): the unreadable, then the soonest.
    expiries.sort(key=lambda e: (e.expires_at is not None, e.expires_at and _aware(e.expires_at)))
    local = deployment(config or None)
    for expiry in expiries:
        finding = stage_finding(expiry, now, limits, local)
        if finding is not None:
            holding.setdefault((expiry.subject, expiry.rule), finding)
    raised: list[tuple[str, str]] = []
    cleared: list[tuple[str, str]] = []
    with write_transaction():
        open_alarms = {
            (a.station_id, a.rule): a
            for a in Alarm.select().where(
                Alarm.cleared_at.is_null(), Alarm.rule.in_(tuple(EXPIRY_RULES))
            )
        }
        for key, alarm in open_alarms.items():
            finding = holding.get(key)
            if finding is None or finding.message != alarm.message:
                alarm.cleared_at = now
                alarm.cleared_by = "rule" if finding is None else "rule: escalated"
                alarm.save()
                cleared.append(key)
        for (subject, rule), finding in holding.items():
            alarm = open_alarms.get((subject, rule))
            if alarm is None or alarm.message != finding.message:
                open_alarm(subject, finding, now)
                raised.append((subject, rule))
    return {"raised": raised, "cleared": cleared}
