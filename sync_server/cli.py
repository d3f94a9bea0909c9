"""``dcs-server``: the central server's workers and administration commands."""

from __future__ import annotations

import logging
import signal
import threading

import click

from sync_server import broker_settings, create_app
from sync_server.api.cli import api_token
from sync_server.bills.cli import fees_cli
from sync_server.config import ServerConfigError
from sync_server.db import database
from sync_server.migrations.cli import db_cli
from sync_server.operators.cli import operator_cli
from sync_server.records.cli import records_cli
from sync_server.rollouts.cli import rollouts_cli


@click.group()
def main() -> None:
    """The central server's command line."""
    from sync_server import logs

    logs.setup(logging.INFO)  # JSON lines through structlog, personal fields dropped


@main.command()
@click.option("--worker-id", default="1", show_default=True, help="Unique per worker process.")
@click.option(
    "--lookups/--no-lookups",
    default=True,
    show_default=True,
    help="Answer live lookups here too (off: `dcs-server lookup` answers them).",
)
def ingest(worker_id: str, lookups: bool) -> None:
    """Run one ingest worker until SIGTERM or Ctrl-C."""
    from sync_server.ingest.worker import IngestWorker

    app = _app()
    stop = _until_stopped()
    worker = IngestWorker(
        database.obj,
        broker_settings(app.config),
        worker_id=worker_id,
        group=app.config["INGEST_GROUP"],
        batch_size=int(app.config["INGEST_BATCH_SIZE"]),
        lookups=lookups,
    )
    with worker:
        click.echo(f"ingest worker {worker_id} running", err=True)
        stop.wait()
    click.echo(f"ingest worker {worker_id} stopped", err=True)


@main.command()
@click.option(
    "--worker-id",
    default="1",
    show_default=True,
    help="Uses dcs-lookup-<id>: run the ingest worker of the same id with --no-lookups.",
)
def lookup(worker_id: str) -> None:
    """Answer live lookups in a process of their own until SIGTERM or Ctrl-C.

    A busy ingest (a city's backlog after an outage) then never competes with a resident
    standing at a kiosk for the same interpreter.
    """
    from functools import partial

    from sync_server.ingest.lookup_connection import LookupConnection
    from sync_server.ingest.refusals import record_refusal

    app = _app()
    stop = _until_stopped()
    try:
        connection = LookupConnection(
            database.obj,
            broker_settings(app.config),
            worker_id=worker_id,
            record=partial(record_refusal, database.obj),
        )
    except FileNotFoundError as exc:
        raise click.ClickException(
            f"no certificate for dcs-lookup-{worker_id} ({exc.filename}):"
            " `dcs-provision broker config` issues it"
        ) from None
    with connection:
        click.echo(f"lookup worker {worker_id} running", err=True)
        stop.wait()
    responder = connection.responder
    times = sorted(responder.answer_s) or [0.0]
    p50, p95 = times[len(times) // 2] * 1000, times[len(times) * 95 // 100] * 1000
    click.echo(
        f"lookup worker {worker_id} stopped: {responder.answered} answered (arrival to reply"
        f" p50 {p50:.0f} ms, p95 {p95:.0f} ms), {responder.expired} dropped past their expiry;"
        f" seconds of expiry left on arrival: {dict(sorted(responder.expiry_left.items()))}",
        err=True,
    )


@main.command("kiosk")
@click.option("--worker-id", default="1", show_default=True, help="Unique per process.")
def kiosk(worker_id: str) -> None:
    """Answer the stations' kiosk service requests (codes, resets, e-ID, tracking)."""
    from sync_server.kiosk_services.worker import KioskServicesWorker

    app = _app()
    stop = _until_stopped()
    with KioskServicesWorker.from_config(app.config, worker_id=worker_id):
        click.echo(f"kiosk-services worker {worker_id} running", err=True)
        stop.wait()
    click.echo(f"kiosk-services worker {worker_id} stopped", err=True)


@main.command()
@click.option("--worker-id", default="1", show_default=True, help="Unique per process.")
def replicate(worker_id: str) -> None:
    """Run the replica publisher until SIGTERM or Ctrl-C."""
    from sync_server.replicas.keys import load_or_create_signing_key, signing_key_path
    from sync_server.replicas.service import ReplicaService

    app = _app()
    key = load_or_create_signing_key(signing_key_path(app.config, app.instance_path))
    stop = _until_stopped()
    service = ReplicaService(
        database.obj,
        broker_settings(app.config),
        key,
        worker_id=worker_id,
        poll_s=float(app.config["REPLICA_POLL_S"]),
    )
    with service:
        click.echo(f"replica publisher {worker_id} running", err=True)
        stop.wait()
    click.echo(f"replica publisher {worker_id} stopped", err=True)


@main.group()
def replica() -> None:
    """Station replicas: enrol a station, refresh or wipe its replica, the server's key."""


@replica.command("server-key")
def replica_server_key() -> None:
    """Print the public key stations put in ``replica.server_public_key``."""
    from sync_server.replicas.keys import (
        load_or_create_signing_key,
        public_key_text,
        signing_key_path,
    )

    app = _app()
    click.echo(
        public_key_text(load_or_create_signing_key(signing_key_path(app.config, app.instance_path)))
    )


@replica.command("enrol")
@click.option("--station", "station_id", required=True)
@click.option("--building", required=True, help="The building whose residents it serves.")
@click.option("--public-key", required=True, help="`python -m device.replica key` on the station.")
def replica_enrol(station_id: str, building: str, public_key: str) -> None:
    """Enrol a station for the replica of one building (again: new building or key)."""
    from sync_server.replicas import EnrolmentError, enrol_station

    _app()
    with database.connection_context():
        try:
            enrol_station(station_id, building, public_key, actor="cli")
        except (EnrolmentError, ValueError) as exc:
            raise click.ClickException(str(exc)) from None
    click.echo(f"{station_id} enrolled for {building}")


@replica.command("refresh")
@click.argument("station_id")
def replica_refresh(station_id: str) -> None:
    """Send the station the refresh_replica command (lifts a wipe)."""
    _replica_command(station_id, "refresh")


@replica.command("wipe")
@click.argument("station_id")
def replica_wipe(station_id: str) -> None:
    """Send the station the wipe_replica command (and send it no replica until a refresh)."""
    _replica_command(station_id, "wipe")


@main.group()
def station() -> None:
    """Stations: lift a quarantine set by the per-station budgets."""


@station.command("lift-quarantine")
@click.argument("station_id")
@click.option("--by", required=True, help="Your name, for the audit trail.")
def station_lift_quarantine(station_id: str, by: str) -> None:
    """Serve a quarantined station again (audited as ``cli:<by>``); its counts start afresh."""
    from sync_server.budgets import lift_quarantine

    _app()
    with database.connection_context():
        lifted = lift_quarantine(station_id, f"cli:{by}")
    if not lifted:
        raise click.ClickException(f"{station_id} is not quarantined")
    click.echo(f"quarantine of {station_id} lifted")


def _app():
    try:
        return create_app()
    except ServerConfigError as exc:
        raise click.ClickException(str(exc)) from None


def _until_stopped() -> threading.Event:
    """An event SIGTERM or Ctrl-C sets: a worker command runs until it is."""
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    return stop


def _replica_command(station_id: str, what: str) -> None:
    from sync_server.replicas import (
        ReplicaCommandError,
        request_replica_refresh,
        wipe_replica,
    )

    app = _app()
    action = request_replica_refresh if what == "refresh" else wipe_replica
    with app.app_context(), database.connection_context():
        try:
            command = action(station_id, actor="cli")
        except ReplicaCommandError as exc:
            raise click.ClickException(str(exc)) from None
    click.echo(f"{command.name} sent to {station_id} (command {command.command_id})")


main.add_command(api_token)
main.add_command(db_cli)
main.add_command(fees_cli)


main.add_command(operator_cli)
main.add_command(rollouts_cli)


@main.command("sms")
def sms_worker() -> None:
    """Deliver the SMS outbox (filing, status, code and alarm texts) until SIGTERM or Ctrl-C."""
    from sync_server.notifications import dispatch  # noqa: F401 - registers the alarm SMS
    from sync_server.petitions import notify
    from sync_server.sms import gateway_from_config
    from sync_server.sms.outbox import Outbox, OutboxWorker

    app = _app()
    try:
        notify.tracking_link(app.config, "P-CHECK")
    except KeyError:
        raise click.ClickException(
            "set TRACKING_URL (the tracking page with {number}) for the citizens' SMS"
        ) from None
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    outbox = Outbox(gateway_from_config(app.config), app.config)
    with OutboxWorker(outbox, poll_s=float(app.config.get("SMS_OUTBOX_POLL_S", 1.0))):
        click.echo("sms outbox worker running", err=True)
        stop.wait()
    click.echo("sms outbox worker stopped", err=True)


main.add_command(records_cli)


@main.command("alarms")
def alarms_worker() -> None:
    """Evaluate the alarm rules and expire commands until SIGTERM or Ctrl-C."""
    from sync_server.config import broker_settings
    from sync_server.dashboard.broker import settings_probe
    from sync_server.dashboard.worker import AlarmWorker

    app = _app()
    timeout_s = float(app.config["BROKER_PROBE_TIMEOUT_S"])
    probe = settings_probe(broker_settings(app.config), timeout_s)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    with AlarmWorker(database.obj, app.config, broker_probe=probe):
        click.echo("alarm rules running", err=True)
        stop.wait()
    click.echo("alarm rules stopped", err=True)


@main.command("notify")
def notify_worker() -> None:
    """Deliver alarm notifications by e-mail and webhook until SIGTERM or Ctrl-C."""
    from sync_server.notifications.delivery import NotificationOutbox, NotifyWorker

    app = _app()
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    outbox = NotificationOutbox(app.config)
    with NotifyWorker(outbox, poll_s=float(app.config["NOTIFY_POLL_S"])):
        click.echo("notification worker running", err=True)
        stop.wait()
    click.echo("notification worker stopped", err=True)
