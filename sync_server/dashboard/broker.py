"""The server's own heartbeat: is the broker answering? Recorded where the dashboard reads it.

The web processes have no MQTT link, and a station's last will cannot fire while the broker is
down or frozen, so the alarm worker probes the broker every round and keeps the answer as an
alarm of the subject ``dcs-broker``, rule ``broker``: open (since its ``raised_at``) while the
broker does not answer, cleared by the rule when it answers again. No schema change needed.

A frozen broker still accepts TCP connections (the kernel completes the handshake), so the
probe waits for the broker's own answer: a CONNACK, or with TLS the server's handshake.
"""

from __future__ import annotations

import socket
import ssl
import struct
from collections.abc import Callable
from datetime import datetime

from contract.transport import BrokerSettings
from sync_server.dashboard.alarms import Finding, open_alarm
from sync_server.dashboard.fleet import aware
from sync_server.dashboard.models import Alarm
from sync_server.db import write_transaction

SUBJECT = "dcs-broker"
RULE = "broker"
PROBE_CLIENT_ID = "dcs-alarms-probe"

#: Answers ``True`` when the broker answered in time.
BrokerProbe = Callable[[], bool]


def _utf8(text: str) -> bytes:
    data = text.encode()
    return struct.pack("!H", len(data)) + data


def _remaining_length(length: int) -> bytes:
    out = bytearray()
    while True:
        byte, length = length % 128, length // 128
        out.append(byte | (0x80 if length else 0))
        if not length:
            return bytes(out)


def connect_packet(username: str | None, password: str | None) -> bytes:
    """An MQTT 5 CONNECT with a clean start and no session (a probe leaves nothing behind)."""
    flags = 0x02 | (0x80 if username is not None else 0) | (0x40 if password is not None else 0)
    variable = _utf8("MQTT") + bytes([5, flags]) + struct.pack("!H", 10) + b"\x00"
    payload = _utf8(PROBE_CLIENT_ID)
    if username is not None:
        payload += _utf8(username)
    if password is not None:
        payload += _utf8(password)
    body = variable + payload
    return b"\x10" + _remaining_length(len(body)) + body


def probe(settings: BrokerSettings, timeout_s: float) -> bool:
    """Whether the broker answers within ``timeout_s``; never raises."""
    try:
        with socket.create_connection((settings.host, settings.port), timeout=timeout_s) as raw:
            raw.settimeout(timeout_s)
            if settings.ca_file is not None:
                return _tls_answers(raw, settings)
            raw.sendall(connect_packet(settings.username, settings.password))
            answer = raw.recv(1)
            if answer[:1] == b"\x20":  # CONNACK, accepted or not: the broker is alive
                raw.sendall(b"\xe0\x00")  # DISCONNECT
                return True
            return False
    except OSError:  # refused, unreachable, timed out
        return False


def _tls_answers(raw: socket.socket, settings: BrokerSettings) -> bool:
    """With TLS the handshake is the answer; a refusal (an alert) also proves it is alive.

    No CONNECT follows: every server certificate belongs to one process, and connecting with
    its client id would throw that process off the broker.
    """
    context = ssl.create_default_context(cafile=str(settings.ca_file))
    context.check_hostname = False
    try:
        with context.wrap_socket(raw, server_hostname=settings.host):
            return True
    except ssl.SSLError:
        return True
    except OSError:
        return False


def settings_probe(settings: BrokerSettings, timeout_s: float) -> BrokerProbe:
    """A probe of the configured broker for :class:`~sync_server.dashboard.worker.AlarmWorker`."""
    return lambda: probe(settings, timeout_s)


def record(reachable: bool, now: datetime) -> dict[str, list[tuple[str, str]]]:
    """Open the broker alarm when it stops answering, clear it when it answers again."""
    raised: list[tuple[str, str]] = []
    cleared: list[tuple[str, str]] = []
    with write_transaction():
        current = Alarm.get_or_none(
            Alarm.station_id == SUBJECT, Alarm.rule == RULE, Alarm.cleared_at.is_null()
        )
        if not reachable and current is None:
            message = "ติดต่อโบรกเกอร์ไม่ได้ · the broker does not answer"
            open_alarm(SUBJECT, Finding(RULE, "critical", message), now)
            raised.append((SUBJECT, RULE))
        elif reachable and current is not None:
            current.cleared_at = now
            current.cleared_by = "rule"
            current.save()
            cleared.append((SUBJECT, RULE))
    return {"raised": raised, "cleared": cleared}


def unreachable_since() -> datetime | None:
    """Since when the broker does not answer the alarm worker, or ``None`` when it does."""
    alarm = Alarm.get_or_none(
        Alarm.station_id == SUBJECT, Alarm.rule == RULE, Alarm.cleared_at.is_null()
    )
    return aware(alarm.raised_at) if alarm is not None else None
