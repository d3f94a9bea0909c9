"""``dcs-server``: run the ingest workers, seed synthetic records."""

from __future__ import annotations

import logging
import signal
import threading

import click

from sync_server import broker_settings, create_app
from sync_server.config import ServerConfigError
from sync_server.db import database


@click.group()
def main() -> None:
    """The central server's command line."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")


@main.command()
@click.option("--worker-id", default="1", show_default=True, help="Unique per worker process.")
def ingest(worker_id: str) -> None:
    """Run one ingest worker until SIGTERM or Ctrl-C."""
    from sync_server.ingest.worker import IngestWorker

    try:
        app = create_app()
    except ServerConfigError as exc:
        raise click.ClickException(str(exc)) from None
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    worker = IngestWorker(
        database.obj,
        broker_settings(app.config),
        worker_id=worker_id,
        group=app.config["INGEST_GROUP"],
        batch_size=int(app.config["INGEST_BATCH_SIZE"]),
    )
    with worker:
        click.echo(f"ingest worker {worker_id} running", err=True)
        stop.wait()
    click.echo(f"ingest worker {worker_id} stopped", err=True)


@main.command("seed")
@click.option("--count", default=200, show_default=True, help="Synthetic residents to create.")
@click.option("--seed", default=2026, show_default=True, help="Random seed (reproducible).")
def seed(count: int, seed: int) -> None:
    """Create synthetic insured persons (never real people)."""
    from sync_server.seed import seed_insured

    try:
        create_app()
    except ServerConfigError as exc:
        raise click.ClickException(str(exc)) from None
    with database.connection_context():
        click.echo(f"{seed_insured(count, seed)} synthetic residents ready")
