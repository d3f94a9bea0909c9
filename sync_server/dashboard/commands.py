"""Remote commands from the dashboard: send, record, settle with the station's result, expire.

A command goes out at QoS 1 on the station's command topic; a station that is offline gets it
from its persistent session when it reconnects and ignores it after ``expires_at``. The
dashboard shows each as pending, done, failed (or rejected by the station) or expired.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from contract import Command, CommandResult
from sync_server.dashboard.models import CommandRecord
from sync_server.db import utc_now, write_transaction
from sync_server.i18n import N_
from sync_server.replicas.commands import (
    Publisher,
    ReplicaCommandError,
    request_replica_refresh,
    send_command,
    wipe_replica,
)

#: What an operator may send, with its label (a msgid of the server's catalogues).
COMMANDS: dict[str, str] = {
    "refresh_replica": N_("Refresh replica"),
    "wipe_replica": N_("Wipe replica"),
    "reboot": N_("Reboot"),
    "lock": N_("Lock the kiosk"),
    "unlock": N_("Unlock the kiosk"),
    "print_test_page": N_("Print a test page"),
    "ping": N_("Ping"),
    "collect_diagnostics": N_("Collect diagnostics"),
}


class CommandError(ValueError):
    """A command that cannot be sent (unknown name, station without a replica...)."""


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def issue(
    station_id: str,
    name: str,
    *,
    actor: str,
    ttl: timedelta,
    publish: Publisher | None = None,
) -> CommandRecord:
    """Send ``name`` to the station and record it as pending."""
    if name not in COMMANDS:
        raise CommandError(f"unknown command {name!r}")
    records: list[CommandRecord] = []

    def record(command: Command) -> None:
        records.append(_record(command, actor))

    sent = {"ttl": ttl, "publish": publish, "actor": actor, "before_send": record}
    try:
        if name == "refresh_replica":
            request_replica_refresh(station_id, **sent)
        elif name == "wipe_replica":
            wipe_replica(station_id, **sent)
        else:
            send_command(station_id, name, **sent)
    except ReplicaCommandError as exc:
        raise CommandError(str(exc)) from None
    except OSError:
        # Not sent: the broker is unreachable. Say so rather than leave it "pending".
        for pending in records:
            CommandRecord.update(status="failed", detail="not sent: broker unreachable").where(
                CommandRecord.command_id == pending.command_id
            ).execute()
        raise
    return records[0]


def _record(command: Command, actor: str) -> CommandRecord:
    with write_transaction():
        return CommandRecord.create(
            command_id=command.command_id,
            station_id=command.station_id,
            name=command.name,
            issued_by=actor,
            issued_at=command.issued_at,
            expires_at=command.expires_at,
        )


def settle(result: CommandResult, received_at: datetime) -> bool:
    """Store the station's result; ``False`` for a command the server never sent."""
    detail = (result.detail or "")[:300] or None
    with write_transaction():
        updated = (
            CommandRecord.update(status=result.status, detail=detail, finished_at=received_at)
            .where(
                (CommandRecord.command_id == result.command_id)
                & (CommandRecord.station_id == result.station_id)
            )
            .execute()
        )
    return updated == 1


def expire(now: datetime | None = None) -> int:
    """Mark pending commands past their time to live as expired; how many."""
    now = now or utc_now()
    with write_transaction():
        return (
            CommandRecord.update(
                status="expired", detail="no answer within its time to live", finished_at=now
            )
            .where((CommandRecord.status == "pending") & (CommandRecord.expires_at < now))
            .execute()
        )


def recent(station_id: str | None = None, limit: int = 20) -> list[CommandRecord]:
    """The latest commands, newest first (one station's or the fleet's)."""
    query = CommandRecord.select().order_by(CommandRecord.issued_at.desc()).limit(limit)
    if station_id is not None:
        query = query.where(CommandRecord.station_id == station_id)
    return list(query)
